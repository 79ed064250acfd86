"""Policy conditions on any parameter (`params:`), end to end: boto3 and the
aws CLI through the proxy to the signature-checking fake upstream. What is
forwarded is what was decided on; a denial names the failed condition; the
audit line records the values the deciding rules looked at, never a secret."""

import botocore.exceptions
import pytest

from support import client_error

POLICY = """\
rules:
  - id: payments-create
    effect: allow
    actions: [CreateReplicationGroup]
    params:
      SecurityGroupIds: {all_in: [sg-0aa, sg-0bb]}
      TransitEncryptionEnabled: {one_of: [true]}
      CacheNodeType: {one_of: [cache.t4g.micro, cache.r7g.large]}
      Tags: {tags: {team: payments}}
  - id: modify-groups
    effect: allow
    actions: [ModifyReplicationGroup]
    params:
      SecurityGroupIds: {all_in: [sg-0aa, sg-0bb], if_absent: match}
  - id: no-auth-token-changes
    effect: deny
    actions: [ModifyReplicationGroup]
    params:
      AuthToken: {present: true}
"""

CREATE = {
    "ReplicationGroupId": "Payments-Orders",
    "ReplicationGroupDescription": "orders",
    "SecurityGroupIds": ["sg-0aa", "sg-0bb"],
    "TransitEncryptionEnabled": True,
    "CacheNodeType": "cache.r7g.large",
    "Tags": [{"Key": "team", "Value": "payments"}],
}
TOKEN = "s3cret-auth-token-0123456789"


def test_an_allowed_create_is_forwarded_as_decided(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=POLICY)
    make_client(proxy).create_replication_group(**CREATE)
    [forwarded] = upstream.requests
    assert forwarded.signature_ok, forwarded.signature_problems
    assert forwarded.params["ReplicationGroupId"] == "payments-orders"  # stored in lower case
    assert forwarded.params["SecurityGroupIds.SecurityGroupId.2"] == "sg-0bb"
    assert forwarded.params["Tags.Tag.1.Value"] == "payments"
    [line] = proxy.audit_records()
    assert line["decision"] == "allow" and line["rules"] == ["payments-create"]
    assert line["params"] == {
        "CacheNodeType": "cache.r7g.large",
        "SecurityGroupIds": "[sg-0aa, sg-0bb]",
        "Tags": "[{Key=team, Value=payments}]",
        "TransitEncryptionEnabled": "true",
    }


@pytest.mark.parametrize(
    "change, failed",
    [
        ({"SecurityGroupIds": ["sg-0aa", "sg-0ff"]}, "`SecurityGroupIds` `[sg-0aa, sg-0ff]` has items outside"),
        ({"TransitEncryptionEnabled": False}, "`TransitEncryptionEnabled` `false` is not one of `true`"),
        ({"CacheNodeType": "cache.r7g.16xlarge"}, "`CacheNodeType` `cache.r7g.16xlarge` is not one of"),
        ({"Tags": [{"Key": "team", "Value": "search"}]}, "lacks one of the tags `team=payments`"),
        ({"SecurityGroupIds": None}, "the request has no `SecurityGroupIds`"),
    ],
    ids=["foreign-group", "no-transit-encryption", "node-type", "tag", "groups-left-out"],
)
def test_a_failed_condition_is_denied_and_named(start_proxy, make_client, upstream, change, failed):
    proxy = start_proxy(policy=POLICY, denial_detail="full")
    request = {k: v for k, v in {**CREATE, **change}.items() if v is not None}
    client = make_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.create_replication_group(**request)
    status, code, message = client_error(raised)
    assert (status, code) == (400, "InvalidParameterCombination")
    assert "rule `payments-create`" in message and failed in message, message
    assert upstream.requests == []
    [line] = proxy.audit_records()
    assert line["decision"] == "deny" and failed in line["explanation"]


def test_a_modify_that_leaves_the_groups_alone_is_allowed(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=POLICY)
    client = make_client(proxy)
    client.modify_replication_group(ReplicationGroupId="payments-orders", CacheNodeType="cache.r7g.xlarge")
    with pytest.raises(botocore.exceptions.ClientError):
        client.modify_replication_group(ReplicationGroupId="payments-orders", SecurityGroupIds=["sg-0zz"])
    assert [r.params.get("SecurityGroupIds.SecurityGroupId.1") for r in upstream.requests] == [None]


def test_an_auth_token_never_reaches_a_log(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=POLICY, denial_detail="full")
    client = make_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.modify_replication_group(
            ReplicationGroupId="payments-orders", AuthToken=TOKEN, AuthTokenUpdateStrategy="ROTATE"
        )
    assert "no-auth-token-changes" in client_error(raised)[2]
    [line] = proxy.audit_records()
    assert line["params"] == {"AuthToken": "(secret)"}
    assert TOKEN not in proxy.audit_text() + proxy.stderr()
    assert upstream.requests == []


def test_the_aws_cli_through_the_conditions(start_proxy, run_aws, upstream):
    proxy = start_proxy(policy=POLICY, denial_detail="full")
    base = ["create-replication-group", "--replication-group-id", "payments-cli",
            "--replication-group-description", "cli", "--transit-encryption-enabled",
            "--cache-node-type", "cache.t4g.micro", "--tags", "Key=team,Value=payments"]
    ok = run_aws(proxy, *base, "--security-group-ids", "sg-0aa")
    assert ok.returncode == 0, ok.stderr
    denied = run_aws(proxy, *base, "--security-group-ids", "sg-0aa", "sg-0evil")
    assert denied.returncode != 0
    assert "InvalidParameterCombination" in denied.stderr and "sg-0evil" in denied.stderr, denied.stderr
    assert len(upstream.requests) == 1


def test_tags_repeating_a_key_are_rejected_before_the_policy(start_proxy, make_client, upstream):
    # Either copy could be the one ElastiCache keeps, so neither is decided on.
    proxy = start_proxy(policy=POLICY, denial_detail="full")
    client = make_client(proxy)
    tags = [{"Key": "team", "Value": "search"}, {"Key": "team", "Value": "payments"}]
    with pytest.raises(client.exceptions.InvalidParameterValueException) as raised:
        client.create_replication_group(**{**CREATE, "Tags": tags})
    assert client_error(raised) == (
        400,
        "InvalidParameterValue",
        "tags `Tags.Tag.1` and `Tags.Tag.2` repeat the key `team`: each key may be given once",
    )
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.add_tags_to_resource(
            ResourceName="arn:aws:elasticache:us-east-1:123456781234:replicationgroup:payments-orders", Tags=tags
        )
    assert upstream.requests == []
    assert [(line["decision"], line["error_code"]) for line in proxy.audit_records()] == [
        ("error", "InvalidParameterValue")
    ] * 2
    # Tag keys are case-sensitive: `Team` is another key.
    client.create_replication_group(**{**CREATE, "Tags": [*CREATE["Tags"], {"Key": "Team", "Value": "search"}]})
    [forwarded] = upstream.requests
    assert forwarded.params["Tags.Tag.2.Key"] == "Team"
