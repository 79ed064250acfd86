"""The policy's conditions hold where a request is shaped to slip past them:
a secret nested in a structure, an empty list, a parameter left out for
AWS's default, a list below or above the model's bounds, and a list item
named as another serializer names it. boto3 and raw signed requests
through the proxy to the signature-checking fake upstream."""

import botocore.config
import pytest

from conftest import require_proxy_binary
from harness import aws
from support import CALLER_ACCESS_KEY, CALLER_SECRET_KEY, client_error, parse_error_xml, send_raw, sign_raw

PASSWORD = "Zq9pa55word&Xk7odd=Wm3chars%41"

USERS_POLICY = """\
rules:
  - {id: users, effect: allow, actions: [CreateUser, ModifyUser]}
  - {id: no-password-changes, effect: deny, actions: [ModifyUser],
     params: {AuthenticationMode: {present: true}}}
"""

GROUPS_POLICY = """\
rules:
  - {id: payments-create, effect: allow, actions: [CreateReplicationGroup],
     params: {SecurityGroupIds: {all_in: [sg-0aa, sg-0bb]}}}
  - {id: modify-groups, effect: allow, actions: [ModifyReplicationGroup],
     params: {SecurityGroupIds: {all_in: [sg-0aa, sg-0bb], if_absent: match}}}
"""

CREATE = {
    "ReplicationGroupId": "payments-orders",
    "ReplicationGroupDescription": "orders",
}


def test_a_password_nested_in_a_structure_never_reaches_a_log(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=USERS_POLICY, denial_detail="full")
    client = make_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.modify_user(UserId="app-user", AuthenticationMode={"Type": "password", "Passwords": [PASSWORD]})
    assert "no-password-changes" in client_error(raised)[2]
    assert upstream.requests == []
    [line] = proxy.audit_records()
    assert line["params"] == {"AuthenticationMode": "{Passwords=(secret), Type=password}"}
    # Nor in any piece: the password holds `&`, `=` and `%`.
    logs = proxy.audit_text() + proxy.stderr()
    for piece in [PASSWORD, "Zq9pa55word", "Xk7odd", "Wm3chars"]:
        assert piece not in logs, piece


def test_explain_never_shows_a_nested_password(tmp_path):
    import subprocess
    import urllib.parse

    (tmp_path / "users.yaml").write_text(USERS_POLICY)
    query = urllib.parse.urlencode(
        {
            "Action": "ModifyUser",
            "Version": "2015-02-02",
            "UserId": "app-user",
            "AuthenticationMode.Type": "password",
            "AuthenticationMode.Passwords.member.1": PASSWORD,
        }
    )
    done = subprocess.run(
        [str(require_proxy_binary()), "explain", "--policy", "users.yaml", "--region", "us-east-1", query],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "decision: deny" in done.stdout and "no-password-changes" in done.stdout, done.stdout
    assert "Zq9pa55word" not in done.stdout + done.stderr


@pytest.mark.parametrize("groups_left", [[], None], ids=["empty-list", "left-out"])
def test_a_create_with_no_groups_is_denied(start_proxy, make_client, upstream, groups_left):
    proxy = start_proxy(policy=GROUPS_POLICY, denial_detail="full")
    client = make_client(proxy)
    request = dict(CREATE) if groups_left is None else {**CREATE, "SecurityGroupIds": groups_left}
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.create_replication_group(**request)
    message = client_error(raised)[2]
    expected = "is an empty list" if groups_left == [] else "the request has no `SecurityGroupIds`"
    assert expected in message, message
    assert upstream.requests == []


def test_a_modify_with_an_empty_group_list_is_not_leaving_them_alone(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=GROUPS_POLICY, denial_detail="full")
    client = make_client(proxy)
    client.modify_replication_group(ReplicationGroupId="payments-orders", CacheNodeType="cache.r7g.xlarge")
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.modify_replication_group(ReplicationGroupId="payments-orders", SecurityGroupIds=[])
    assert len(upstream.requests) == 1


def test_a_rule_can_take_an_empty_list_and_a_deny_rule_catches_one(start_proxy, make_client, upstream):
    policy = GROUPS_POLICY.replace(
        "{all_in: [sg-0aa, sg-0bb], if_absent: match}", "{all_in: [sg-0aa, sg-0bb], if_absent: match, if_empty: match}"
    )
    proxy = start_proxy(policy=policy)
    client = make_client(proxy)
    client.modify_replication_group(ReplicationGroupId="payments-orders", SecurityGroupIds=[])
    [forwarded] = upstream.requests
    assert forwarded.signature_ok, forwarded.signature_problems
    assert forwarded.params["SecurityGroupIds"] == ""
    # A deny rule on the items matches an empty list unless it says otherwise.
    denied = policy + (
        "  - id: no-legacy\n    effect: deny\n    actions: [ModifyReplicationGroup]\n"
        "    params:\n      SecurityGroupIds: {any_in: [sg-0legacy]}\n"
    )
    proxy = start_proxy(policy=denied)
    client = make_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.modify_replication_group(ReplicationGroupId="payments-orders", SecurityGroupIds=[])
    assert "no-legacy" in client_error(raised)[2]
    assert len(upstream.requests) == 1


DEFAULTS_POLICY = """\
rules:
  - {id: create, effect: allow, actions: [CreateReplicationGroup]}
  - {id: transit-encryption-required, effect: deny, actions: [CreateReplicationGroup],
     params: {TransitEncryptionEnabled: {one_of: [false], if_absent: default}}}
"""


# `if_absent: default`: a create that leaves TransitEncryptionEnabled out
# is judged as if AWS's documented default, false, were written.
def test_a_create_without_the_flag_is_judged_as_aws_default(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=DEFAULTS_POLICY, denial_detail="full")
    client = make_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.create_replication_group(**CREATE)
    assert "transit-encryption-required" in client_error(raised)[2]
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.create_replication_group(**CREATE, TransitEncryptionEnabled=False)
    assert upstream.requests == []
    client.create_replication_group(**CREATE, TransitEncryptionEnabled=True)
    [forwarded] = upstream.requests
    assert forwarded.signature_ok, forwarded.signature_problems
    assert forwarded.params["TransitEncryptionEnabled"] == "true"
    # The audit line of the create without the flag records no value: the
    # request carried none.
    decided = [(line["decision"], line["rules"], line["params"]) for line in proxy.audit_records()]
    assert decided == [
        ("deny", ["transit-encryption-required"], None),
        ("deny", ["transit-encryption-required"], {"TransitEncryptionEnabled": "false"}),
        ("allow", ["create"], None),
    ]


def test_without_the_modifier_leaving_the_flag_out_dodges_the_rule(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=DEFAULTS_POLICY.replace(", if_absent: default", ""))
    client = make_client(proxy)
    client.create_replication_group(**CREATE)
    [forwarded] = upstream.requests
    assert "TransitEncryptionEnabled" not in forwarded.params


def unvalidated_client(proxy):
    """A client that sends what botocore would refuse to, as other SDKs may."""
    return aws.client(
        "elasticache",
        region_name="us-east-1",
        endpoint_url=proxy.url,
        aws_access_key_id=CALLER_ACCESS_KEY,
        aws_secret_access_key=CALLER_SECRET_KEY,
        config=botocore.config.Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )


@pytest.mark.parametrize(
    "call, request_",
    [
        ("create_replication_group", {**CREATE, "UserGroupIds": []}),
        ("create_user", {"UserId": "u1", "UserName": "u1", "Engine": "redis", "AccessString": "on ~* +@all", "Passwords": []}),
    ],
    ids=["user-groups", "passwords"],
)
def test_an_empty_list_the_model_requires_items_of_is_refused(start_proxy, upstream, call, request_):
    proxy = start_proxy(policy="rules:\n  - id: all\n    effect: allow\n")
    client = unvalidated_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterValueException) as raised:
        getattr(client, call)(**request_)
    message = client_error(raised)[2]
    assert "has 0 items" in message and "at least 1" in message, message
    assert upstream.requests == []


def signed_post(proxy, body: str):
    authorization, date = sign_raw(proxy.port, body)
    return send_raw(proxy.port, body=body, authorization=authorization, amz_date=date)


def test_a_list_item_named_as_another_serializer_names_it(start_proxy, upstream):
    proxy = start_proxy(policy="rules:\n  - id: all\n    effect: allow\n")
    body = (
        "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=g&ReplicationGroupDescription=d"
        "&SecurityGroupIds.member.1=sg-0aa"
    )
    answer = signed_post(proxy, body)
    error = parse_error_xml(answer.body)
    assert (answer.status, error.code) == (400, "InvalidQueryParameter")
    assert "`SecurityGroupIds.member.1` is not the name of an item" in error.message, error.message
    assert "`SecurityGroupIds.SecurityGroupId.N`" in error.message, error.message
    long = body.replace("member.1", "SecurityGroupId.1001")
    answer = signed_post(proxy, long)
    error = parse_error_xml(answer.body)
    assert (answer.status, error.code) == (400, "InvalidParameterValue")
    assert "`SecurityGroupIds` is too long" in error.message, error.message
    assert upstream.requests == []


CLUSTER_GROUPS_POLICY = """\
rules:
  - {id: prod-clusters, effect: allow, actions: [CreateCacheCluster, ModifyCacheCluster],
     cache_security_groups: ["prod-.*"]}
"""


def test_the_group_shorthand_holds_for_every_item_of_the_list(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=CLUSTER_GROUPS_POLICY, denial_detail="full")
    client = make_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.create_cache_cluster(CacheClusterId="orders", CacheSecurityGroupNames=["prod-a", "evil"])
    message = client_error(raised)[2]
    assert "CacheSecurityGroupNames has `evil`, which does not match its patterns" in message, message
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.modify_cache_cluster(CacheClusterId="orders", CacheSecurityGroupNames=["evil"])
    assert upstream.requests == []
    # Every item matching, in any case: stored, and forwarded, in lower case.
    client.create_cache_cluster(CacheClusterId="orders", CacheSecurityGroupNames=["prod-a", "PROD-B"])
    [forwarded] = upstream.requests
    assert forwarded.signature_ok, forwarded.signature_problems
    names = [forwarded.params[f"CacheSecurityGroupNames.CacheSecurityGroupName.{i}"] for i in (1, 2)]
    assert names == ["prod-a", "prod-b"]
    allowed = proxy.audit_records()[-1]
    assert allowed["params"] == {"CacheSecurityGroupNames": "[prod-a, prod-b]"}, allowed
