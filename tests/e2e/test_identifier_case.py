"""Identifiers are decided in the form AWS acts on, end to end: a name that
points at an id ElastiCache keeps in lower case (PrimaryClusterId,
SourceSnapshotName, ...) is lower-cased, decided on and forwarded so, and
ids compared without case (SecurityGroupIds) are matched in any spelling
and forwarded as sent (core/model/case.json)."""

import pytest

from support import client_error

POLICY = """\
rules:
  - id: replication
    effect: allow
    actions: [CreateReplicationGroup, CopySnapshot]
  - id: no-prod-primary
    effect: deny
    actions: [CreateReplicationGroup]
    params:
      PrimaryClusterId: {matches: "prod-.*"}
  - id: no-prod-copies
    effect: deny
    actions: [CopySnapshot]
    params:
      SourceSnapshotName: {matches: "prod-.*"}
  - id: no-legacy-groups
    effect: deny
    actions: [CreateReplicationGroup]
    params:
      SecurityGroupIds: {any_in: [sg-0legacy]}
"""


def create(primary: str, **more) -> dict:
    return {
        "ReplicationGroupId": "orders",
        "ReplicationGroupDescription": "orders",
        "PrimaryClusterId": primary,
        **more,
    }


def denied_by(client, call, request) -> str:
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        call(**request)
    status, code, message = client_error(raised)
    assert (status, code) == (400, "InvalidParameterCombination")
    return message


@pytest.mark.parametrize("primary", ["PROD-CACHE-001", "Prod-Cache-001", "prod-cache-001"])
def test_a_primary_cluster_in_any_spelling_meets_the_deny_rule(start_proxy, make_client, upstream, primary):
    proxy = start_proxy(policy=POLICY, denial_detail="full")
    client = make_client(proxy)
    message = denied_by(client, client.create_replication_group, create(primary))
    assert "rule `no-prod-primary`" in message, message
    assert upstream.requests == []
    [line] = proxy.audit_records()
    assert line["decision"] == "deny" and line["params"]["PrimaryClusterId"] == "prod-cache-001"


def test_an_allowed_primary_cluster_is_forwarded_in_lower_case(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=POLICY)
    make_client(proxy).create_replication_group(**create("Staging-Cache-001", SecurityGroupIds=["SG-0Other"]))
    [forwarded] = upstream.requests
    assert forwarded.signature_ok, forwarded.signature_problems
    assert forwarded.params["PrimaryClusterId"] == "staging-cache-001"
    # Compared without case, forwarded as sent.
    assert forwarded.params["SecurityGroupIds.SecurityGroupId.1"] == "SG-0Other"


def test_a_snapshot_copy_is_decided_on_lower_case_names(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=POLICY, denial_detail="full")
    client = make_client(proxy)
    message = denied_by(
        client, client.copy_snapshot, {"SourceSnapshotName": "PROD-Nightly", "TargetSnapshotName": "copy"}
    )
    assert "rule `no-prod-copies`" in message, message
    client.copy_snapshot(SourceSnapshotName="Staging-Nightly", TargetSnapshotName="Copy-1")
    [forwarded] = upstream.requests
    assert (forwarded.params["SourceSnapshotName"], forwarded.params["TargetSnapshotName"]) == (
        "staging-nightly",
        "copy-1",
    )


def test_a_security_group_id_in_capitals_meets_the_deny_rule(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=POLICY, denial_detail="full")
    client = make_client(proxy)
    request = create("staging-cache-001", SecurityGroupIds=["SG-0LEGACY"])
    assert "rule `no-legacy-groups`" in denied_by(client, client.create_replication_group, request)
    assert upstream.requests == []
