"""Conditions on nested members (`params:` keys that are paths) through the
proxy, with the bodies boto3 and the aws CLI write: every item of
LogDeliveryConfigurations and NodeGroupConfiguration judged, a member inside
CacheUsageLimits, a deny rule on any item and on an empty list, a user's
authentication mode created in moto while its password stays out of every
log, and a mistyped path refused with a did-you-mean. The fake upstream
checks every forwarded request's signature with botocore's signer."""

import subprocess

import pytest

from conftest import require_proxy_binary
from support import client_error

LOG_GROUP = "LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroup"

LOGS_POLICY = f"""\
rules:
  - id: logs
    effect: allow
    actions: [CreateReplicationGroup, ModifyReplicationGroup]
    params:
      {LOG_GROUP}: {{matches: "/payments/.*"}}
"""

CREATE = {"ReplicationGroupId": "payments-orders", "ReplicationGroupDescription": "orders"}
MODIFY = {"ReplicationGroupId": "payments-orders", "ApplyImmediately": True}


def cloudwatch(group: str, log_type: str = "slow-log") -> dict:
    return {
        "LogType": log_type,
        "DestinationType": "cloudwatch-logs",
        "DestinationDetails": {"CloudWatchLogsDetails": {"LogGroup": group}},
        "LogFormat": "json",
    }


def firehose(stream: str, log_type: str = "engine-log") -> dict:
    return {
        "LogType": log_type,
        "DestinationType": "kinesis-firehose",
        "DestinationDetails": {"KinesisFirehoseDetails": {"DeliveryStream": stream}},
        "LogFormat": "text",
    }


def item_param(index: int, member: str) -> str:
    """A member of a LogDeliveryConfigurations item as botocore names it on the wire."""
    return f"LogDeliveryConfigurations.LogDeliveryConfigurationRequest.{index}.{member}"


@pytest.mark.parametrize("denial_detail", ["full", None], ids=["full", "caller"])
@pytest.mark.parametrize(
    "call, base",
    [("create_replication_group", CREATE), ("modify_replication_group", MODIFY)],
    ids=["create", "modify"],
)
def test_every_log_delivery_item_must_ship_to_a_payments_log_group(
    start_proxy, make_client, upstream, call, base, denial_detail
):
    proxy = start_proxy(policy=LOGS_POLICY, denial_detail=denial_detail)
    client = make_client(proxy)
    send = getattr(client, call)
    send(**base, LogDeliveryConfigurations=[cloudwatch("/payments/orders-slow")])
    [forwarded] = upstream.requests
    assert forwarded.signature_ok, forwarded.signature_problems
    group = item_param(1, "DestinationDetails.CloudWatchLogsDetails.LogGroup")
    assert forwarded.params[group] == "/payments/orders-slow", forwarded.params

    # A second item shipping elsewhere, then one shipping to Firehose.
    other = [cloudwatch("/payments/orders-slow"), cloudwatch("/other/x", "engine-log")]
    to_firehose = [cloudwatch("/payments/orders-slow"), firehose("everything")]
    messages = []
    for items in (other, to_firehose):
        with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
            send(**base, LogDeliveryConfigurations=items)
        messages.append(client_error(raised)[2])
    assert len(upstream.requests) == 1

    wrong_group = f"rule `logs`: `{LOG_GROUP.replace('[]', '[2]')}` `/other/x` does not match `/payments/.*`"
    no_details = (
        "rule `logs`: the request has no `LogDeliveryConfigurations[2].DestinationDetails.CloudWatchLogsDetails`"
    )
    if denial_detail == "full":
        assert wrong_group in messages[0], messages[0]
        assert no_details in messages[1], messages[1]
    else:
        for message in messages:
            assert "not allowed by policy" in message and "LogDeliveryConfigurations" not in message, message
    allowed, denied_group, denied_firehose = proxy.audit_records()
    assert (allowed["decision"], allowed["rules"]) == ("allow", ["logs"]), allowed
    assert allowed["params"] == {LOG_GROUP: "[/payments/orders-slow]"}, allowed
    assert denied_group["decision"] == "deny" and wrong_group in denied_group["explanation"], denied_group
    assert denied_group["params"] == {LOG_GROUP: "[/payments/orders-slow, /other/x]"}, denied_group
    assert denied_firehose["decision"] == "deny" and no_details in denied_firehose["explanation"], denied_firehose
    assert denied_firehose["params"] == {LOG_GROUP: "[/payments/orders-slow, (absent)]"}, denied_firehose


def test_the_cli_firehose_item_is_denied_by_its_number(start_proxy, upstream, run_aws):
    proxy = start_proxy(policy=LOGS_POLICY, denial_detail="full")
    done = run_aws(
        proxy,
        "modify-replication-group",
        "--replication-group-id", "payments-orders",
        "--apply-immediately",
        "--log-delivery-configurations",
        "LogType=slow-log,DestinationType=cloudwatch-logs,"
        "DestinationDetails={CloudWatchLogsDetails={LogGroup=/payments/orders-slow}},LogFormat=json,Enabled=true",
        "LogType=engine-log,DestinationType=kinesis-firehose,"
        "DestinationDetails={KinesisFirehoseDetails={DeliveryStream=everything}},LogFormat=text,Enabled=true",
    )
    assert done.returncode != 0, done.stdout
    assert "(InvalidParameterCombination)" in done.stderr, done.stderr
    assert "the request has no `LogDeliveryConfigurations[2].DestinationDetails.CloudWatchLogsDetails`" in done.stderr
    assert upstream.requests == []


SHARDS_POLICY = """\
rules:
  - id: shards
    effect: allow
    actions: [CreateReplicationGroup]
    params:
      NodeGroupConfiguration[].ReplicaCount: {range: [1, 2]}
"""


def shards(*counts) -> list[str]:
    """--node-group-configuration values, as the CLI's shorthand; None leaves ReplicaCount out."""
    return [
        f"NodeGroupId={n:04d}" + ("" if count is None else f",ReplicaCount={count}")
        for n, count in enumerate(counts, start=1)
    ]


def test_every_shard_of_the_cli_must_have_one_or_two_replicas(start_proxy, upstream, run_aws):
    proxy = start_proxy(policy=SHARDS_POLICY, denial_detail="full")
    create = [
        "create-replication-group",
        "--replication-group-id", "payments-sharded",
        "--replication-group-description", "sharded",
        "--num-node-groups", "3",
        "--node-group-configuration",
    ]
    done = run_aws(proxy, *create, *shards(1, 2, 2))
    assert done.returncode == 0, done.stderr
    [forwarded] = upstream.requests
    assert forwarded.signature_ok, forwarded.signature_problems
    counts = [forwarded.params[f"NodeGroupConfiguration.NodeGroupConfiguration.{n}.ReplicaCount"] for n in (1, 2, 3)]
    assert counts == ["1", "2", "2"]
    for counts, expected in [
        ((1, 3, 2), "rule `shards`: `NodeGroupConfiguration[2].ReplicaCount` `3` is not from 1 to 2"),
        ((1, 2, None), "rule `shards`: the request has no `NodeGroupConfiguration[3].ReplicaCount`"),
    ]:
        done = run_aws(proxy, *create, *shards(*counts))
        assert done.returncode != 0, done.stdout
        assert "(InvalidParameterCombination)" in done.stderr and expected in done.stderr, done.stderr
    assert len(upstream.requests) == 1
    params = [line["params"] for line in proxy.audit_records()]
    key = "NodeGroupConfiguration[].ReplicaCount"
    assert params == [{key: "[1, 2, 2]"}, {key: "[1, 3, 2]"}, {key: "[1, 2, (absent)]"}], params


SERVERLESS_POLICY = """\
rules:
  - id: small-serverless
    effect: allow
    actions: [CreateServerlessCache]
    params:
      CacheUsageLimits.DataStorage.Maximum: {range: [1, 100]}
"""


def with_option(policy: str, condition: str, option: str | None) -> str:
    """`policy` with `option` (`if_absent: match`, say) added to the flow
    mapping `{condition}`."""
    if option is None:
        return policy
    assert f"{{{condition}}}" in policy, condition
    return policy.replace(f"{{{condition}}}", f"{{{condition}, {option}}}")


def storage(**data_storage) -> dict:
    return {"DataStorage": {"Unit": "GB", **data_storage}}


@pytest.mark.parametrize("if_absent", [None, "match"], ids=["strict", "if-absent-match"])
def test_serverless_data_storage_maximum_is_bounded(start_proxy, make_client, upstream, if_absent):
    option = if_absent and f"if_absent: {if_absent}"
    proxy = start_proxy(policy=with_option(SERVERLESS_POLICY, "range: [1, 100]", option), denial_detail="full")
    client = make_client(proxy)
    base = {"ServerlessCacheName": "payments-sessions", "Engine": "valkey"}
    path = "CacheUsageLimits.DataStorage.Maximum"
    cases = [
        ({"CacheUsageLimits": storage(Maximum=100)}, None),
        ({"CacheUsageLimits": storage(Maximum=500)}, f"rule `small-serverless`: `{path}` `500` is not from 1 to 100"),
        ({}, "rule `small-serverless`: the request has no `CacheUsageLimits`"),
        ({"CacheUsageLimits": storage(Minimum=10)}, f"rule `small-serverless`: the request has no `{path}`"),
        (
            {"CacheUsageLimits": {"ECPUPerSecond": {"Maximum": 5000}}},
            "rule `small-serverless`: the request has no `CacheUsageLimits.DataStorage`",
        ),
    ]
    forwarded = 0
    for extra, denial in cases:
        # Leaving the member out passes only with `if_absent: match`.
        left_out = denial is not None and "the request has no" in denial
        if denial is not None and not (left_out and if_absent == "match"):
            with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
                client.create_serverless_cache(**base, **extra)
            assert denial in client_error(raised)[2], (extra, client_error(raised))
        else:
            client.create_serverless_cache(**base, **extra)
            forwarded += 1
            last = upstream.requests[-1]
            assert last.signature_ok, last.signature_problems
            maximum = extra.get("CacheUsageLimits", {}).get("DataStorage", {}).get("Maximum")
            assert last.params.get(path) == (None if maximum is None else str(maximum)), last.params
    assert len(upstream.requests) == forwarded == (1 if if_absent is None else 4)
    lines = proxy.audit_records()
    assert [line["params"] for line in lines[:2]] == [{path: "100"}, {path: "500"}], lines


FIREHOSE_DENY_POLICY = """\
rules:
  - {id: modify, effect: allow, actions: [ModifyReplicationGroup]}
  - id: no-firehose
    effect: deny
    actions: [ModifyReplicationGroup]
    params:
      "LogDeliveryConfigurations[].DestinationType": {one_of: [kinesis-firehose]}
"""


def test_a_deny_rule_fires_on_any_firehose_item(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=FIREHOSE_DENY_POLICY, denial_detail="full")
    client = make_client(proxy)
    client.modify_replication_group(
        **MODIFY, LogDeliveryConfigurations=[cloudwatch("/payments/a"), cloudwatch("/any/b", "engine-log")]
    )
    [forwarded] = upstream.requests
    assert forwarded.signature_ok, forwarded.signature_problems
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.modify_replication_group(
            **MODIFY,
            LogDeliveryConfigurations=[cloudwatch("/payments/a"), firehose("everything"), cloudwatch("/any/b")],
        )
    message = client_error(raised)[2]
    assert "denied by policy rule `no-firehose`" in message, message
    assert len(upstream.requests) == 1
    denied = proxy.audit_records()[-1]
    assert (denied["decision"], denied["rules"]) == ("deny", ["no-firehose"]), denied
    assert denied["params"] == {
        "LogDeliveryConfigurations[].DestinationType": "[cloudwatch-logs, kinesis-firehose, cloudwatch-logs]"
    }, denied


@pytest.mark.parametrize("if_empty", [None, "no_match"], ids=["default", "no-match"])
def test_an_empty_log_delivery_list_meets_the_deny_rule_by_default(start_proxy, make_client, upstream, if_empty):
    option = if_empty and f"if_empty: {if_empty}"
    proxy = start_proxy(
        policy=with_option(FIREHOSE_DENY_POLICY, "one_of: [kinesis-firehose]", option), denial_detail="full"
    )
    client = make_client(proxy)
    if if_empty is None:
        with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
            client.modify_replication_group(**MODIFY, LogDeliveryConfigurations=[])
        assert "denied by policy rule `no-firehose`" in client_error(raised)[2]
        assert upstream.requests == []
        [line] = proxy.audit_records()
        assert (line["decision"], line["rules"]) == ("deny", ["no-firehose"]), line
    else:
        client.modify_replication_group(**MODIFY, LogDeliveryConfigurations=[])
        [forwarded] = upstream.requests
        assert forwarded.signature_ok, forwarded.signature_problems
        # What boto3 writes for an empty list: the name with no value.
        assert forwarded.params["LogDeliveryConfigurations"] == "", forwarded.params
        # The deciding rule looked at nothing.
        [line] = proxy.audit_records()
        assert (line["decision"], line["rules"], line["params"]) == ("allow", ["modify"], None), line


def test_the_audit_line_writes_an_empty_list_on_a_path_as_empty(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=FIREHOSE_DENY_POLICY)
    client = make_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.modify_replication_group(**MODIFY, LogDeliveryConfigurations=[])
    [line] = proxy.audit_records()
    assert line["params"] == {"LogDeliveryConfigurations[].DestinationType": "[]"}, line


PASSWORD = "Zq9pa55word&Xk7odd=Wm3chars%41"

USERS_POLICY = """\
rules:
  - id: iam-users
    effect: allow
    actions: [CreateUser]
    params:
      AuthenticationMode.Type: {one_of: [iam]}
  - {id: read-users, effect: allow, actions: [DescribeUsers]}
  - id: no-passwords
    effect: deny
    actions: [CreateUser]
    params:
      AuthenticationMode.Passwords: {present: true}
"""

USER = {"Engine": "redis", "AccessString": "on ~* +@all"}


def test_only_iam_users_are_created_in_moto_and_no_password_is_logged(start_proxy, make_client, moto):
    proxy = start_proxy(
        policy=USERS_POLICY, endpoint=moto.endpoint, credentials=moto.credentials, denial_detail="full"
    )
    client = make_client(proxy)
    client.create_user(UserId="reporting", UserName="reporting", AuthenticationMode={"Type": "iam"}, **USER)
    [user] = client.describe_users(UserId="reporting")["Users"]
    assert user["Authentication"]["Type"] == "iam", user

    messages = []
    for user_id, mode in [
        ("legacy", {"Type": "password", "Passwords": [PASSWORD]}),
        # The allow rule passes this one; the deny rule stops it.
        ("sneaky", {"Type": "iam", "Passwords": [PASSWORD]}),
    ]:
        with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
            client.create_user(UserId=user_id, UserName=user_id, AuthenticationMode=mode, **USER)
        messages.append(client_error(raised)[2])
        assert "denied by policy rule `no-passwords`" in messages[-1], messages[-1]
    created = {user["UserId"] for user in moto.client().describe_users()["Users"]}
    assert "reporting" in created and not created & {"legacy", "sneaky"}, created

    denied = proxy.audit_records()[-2:]
    assert [(line["decision"], line["rules"]) for line in denied] == [("deny", ["no-passwords"])] * 2, denied
    for line in denied:
        assert line["params"] == {"AuthenticationMode.Passwords": "(secret)"}, line
    logs = proxy.audit_text() + proxy.stderr() + "".join(messages)
    for piece in [PASSWORD, "Zq9pa55word", "Xk7odd", "Wm3chars"]:
        assert piece not in logs, piece


def check(tmp_path, policy: str) -> subprocess.CompletedProcess:
    (tmp_path / "p.yaml").write_text(policy)
    return subprocess.run(
        [str(require_proxy_binary()), "check", "--policy", "p.yaml"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (LOG_GROUP.replace("LogGroup", "LogGroop"), f"did you mean `{LOG_GROUP}`?"),
        ("LogDeliveryConfigurations.LogType", "write `LogDeliveryConfigurations[].LogType`"),
    ],
    ids=["typo", "list-without-brackets"],
)
def test_a_mistyped_path_is_refused_with_a_hint(tmp_path, wrong, hint):
    done = check(tmp_path, LOGS_POLICY.replace(LOG_GROUP, wrong))
    assert done.returncode != 0, done
    output = done.stdout + done.stderr
    assert f"p.yaml:6:7: rule `logs`: `params.{wrong}`: " in output and f"(hint: {hint})" in output, output


def test_a_reload_with_a_mistyped_path_keeps_the_old_policy(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=LOGS_POLICY, admin=True, watch_interval="0s")
    proxy.policy_path.write_text(LOGS_POLICY.replace("LogGroup:", "LogGroop:"))
    answer = proxy.reload()
    assert answer.status == 400, answer.text
    errors = answer.json()["errors"]
    assert any("LogGroop`" in error and f"did you mean `{LOG_GROUP}`?" in error for error in errors), errors
    client = make_client(proxy)
    client.modify_replication_group(**MODIFY, LogDeliveryConfigurations=[cloudwatch("/payments/a")])
    with pytest.raises(client.exceptions.InvalidParameterCombinationException):
        client.modify_replication_group(**MODIFY, LogDeliveryConfigurations=[cloudwatch("/other/a")])
    assert len(upstream.requests) == 1
