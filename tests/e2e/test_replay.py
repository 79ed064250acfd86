"""`replay`: requests the proxy decided (its audit log) and requests AWS
recorded (CloudTrail), decided again under another policy; what changes is
reported, grouped, with examples, and the exit status gates CI. boto3
through the proxy to the signature-checking fake upstream writes the audit
log that is replayed."""

import gzip
import json
import subprocess

from conftest import require_proxy_binary
from support import client_error

OLD = """\
rules:
  - id: modify
    effect: allow
    actions: [ModifyReplicationGroup]
    other_params: allow
    params:
      CacheNodeType: {one_of: [cache.r7g.large, cache.r7g.xlarge]}
  - id: describe
    effect: allow
    actions: [DescribeCacheClusters]
"""

# The new policy takes cache.r7g.xlarge away and allows snapshots.
NEW = OLD.replace("[cache.r7g.large, cache.r7g.xlarge]", "[cache.r7g.large]") + """\
  - id: snapshots
    effect: allow
    actions: [CreateSnapshot]
"""


def replay(tmp_path, policy: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "new.yaml"
    path.write_text(policy)
    return subprocess.run(
        [str(require_proxy_binary()), "replay", "--policy", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def record_history(start_proxy, make_client) -> str:
    """Requests decided under OLD, as the audit log holds them."""
    proxy = start_proxy(policy=OLD, audit_log="audit.log")
    client = make_client(proxy)
    client.modify_replication_group(ReplicationGroupId="a", CacheNodeType="cache.r7g.large")
    client.modify_replication_group(ReplicationGroupId="b", CacheNodeType="cache.r7g.xlarge")
    client.modify_replication_group(ReplicationGroupId="c", CacheNodeType="cache.r7g.xlarge")
    client.describe_cache_clusters()
    try:
        client.create_snapshot(ReplicationGroupId="a", SnapshotName="s")
    except client.exceptions.ClientError as err:
        assert client_error_code(err) == "InvalidParameterCombination"
    return proxy.audit_text()


def client_error_code(err) -> str:
    return err.response["Error"]["Code"]


def test_replay_reports_what_a_policy_change_would_do(start_proxy, make_client, upstream, tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(record_history(start_proxy, make_client))
    same = replay(tmp_path, OLD, str(log))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "5 requests decided again, 5 unchanged, 0 newly denied, 0 newly allowed" in same.stdout, same.stdout
    changed = replay(tmp_path, NEW, str(log))
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "2 newly denied, 1 newly allowed" in changed.stdout, changed.stdout
    assert "newly denied       2  caller `local-test`  ModifyReplicationGroup  no rule allows it" in changed.stdout, changed.stdout
    assert "`CacheNodeType` `cache.r7g.xlarge` is not one of `cache.r7g.large`" in changed.stdout, changed.stdout
    assert "newly allowed       1  caller `local-test`  CreateSnapshot  rule snapshots" in changed.stdout, changed.stdout
    # The same, gzip, split over two files in any order, as JSON.
    lines = log.read_text().splitlines(keepends=True)
    (tmp_path / "b.log.gz").write_bytes(gzip.compress("".join(lines[2:]).encode()))
    (tmp_path / "a.log").write_text("".join(lines[:2]))
    as_json = replay(tmp_path, NEW, "--json", str(tmp_path / "b.log.gz"), str(tmp_path / "a.log"))
    assert as_json.returncode == 1, as_json.stderr
    report = json.loads(as_json.stdout)
    assert (report["decided"], report["newly_denied"], report["newly_allowed"]) == (5, 2, 1), report
    [denied] = [c for c in report["changes"] if c["direction"] == "newly denied"]
    assert (denied["caller"], denied["action"], denied["count"]) == ("local-test", "ModifyReplicationGroup", 2)
    assert {e["request_id"] for e in denied["examples"]} <= {json.loads(l)["request_id"] for l in lines}


def test_replay_counts_what_it_cannot_decide_again(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text('{"time":"2026-12-01T00:00:00Z","request_id":"old","decision":"allow"}\nnot json\n')
    result = replay(tmp_path, OLD, str(log))
    assert result.returncode == 0, result.stdout
    assert "2 could not be decided again" in result.stdout, result.stdout
    assert "audit.log:2: not a JSON record" in result.stdout, result.stdout


CLOUDTRAIL = {
    "Records": [
        {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::123456789012:assumed-role/elasticache-proxy/payments-deployer",
            },
            "eventTime": "2026-12-01T10:00:00Z",
            "eventSource": "elasticache.amazonaws.com",
            "eventName": "ModifyReplicationGroup",
            "awsRegion": "eu-west-1",
            "requestParameters": {"replicationGroupId": "orders", "cacheNodeType": "cache.r7g.xlarge"},
            "requestID": "ct-1",
            "eventID": "e-1",
        },
        {
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/other/someone"},
            "eventTime": "2026-12-01T10:01:00Z",
            "eventSource": "elasticache.amazonaws.com",
            "eventName": "DescribeCacheClusters",
            "awsRegion": "eu-west-1",
            "requestParameters": {"showCacheNodeInfo": True},
            "requestID": "ct-2",
        },
    ]
}


def test_replay_reads_cloudtrail_with_an_identity_mapping(tmp_path):
    trail = tmp_path / "trail.json.gz"
    trail.write_bytes(gzip.compress(json.dumps(CLOUDTRAIL, indent=2).encode()))
    identities = tmp_path / "identities.yaml"
    identities.write_text("identities:\n  - caller: payments-deployer\n    session_name: payments-deployer\n")
    result = replay(tmp_path, NEW, "--identities", str(identities), str(trail))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 newly denied" in result.stdout and "caller `payments-deployer`" in result.stdout, result.stdout
    # The second event's identity matches no caller: listed, not dropped.
    assert "1 could not be decided again" in result.stdout, result.stdout
    assert "trail.json.gz:#2: no caller matches the identity" in result.stdout, result.stdout


def test_draft_writes_a_policy_that_allows_what_was_used(start_proxy, make_client, upstream, tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(record_history(start_proxy, make_client))
    binary = str(require_proxy_binary())
    drafted = subprocess.run(
        [binary, "draft", "--out", str(tmp_path / "drafted"), str(log)], capture_output=True, text=True, timeout=60
    )
    assert drafted.returncode == 0, drafted.stdout + drafted.stderr
    # Four requests allowed when recorded; the snapshot was denied and is
    # not drafted from.
    assert "2 rules from 5 requests (1 denied when recorded, not drafted from)" in drafted.stdout, drafted.stdout
    assert "replaying the 5 requests against it: 0 newly denied, 0 newly allowed" in drafted.stdout, drafted.stdout
    policy = (tmp_path / "drafted.yaml").read_text()
    assert 'CacheNodeType: {one_of: ["cache.r7g.large", "cache.r7g.xlarge"]}' in policy, policy
    assert "other_params: deny" in policy, policy
    checked = subprocess.run(
        [binary, "check", "--deny-warnings", "--policy", str(tmp_path / "drafted.yaml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout
    tested = subprocess.run([binary, "test", str(tmp_path / "drafted.test.yaml")], capture_output=True, text=True)
    assert tested.returncode == 0 and "4 passed, 0 failed" in tested.stdout, tested.stdout
    # Replaying the history against the draft changes nothing.
    replayed = subprocess.run(
        [binary, "replay", "--policy", str(tmp_path / "drafted.yaml"), str(log)], capture_output=True, text=True
    )
    assert replayed.returncode == 0, replayed.stdout


OWNED = """\
rules:
  - id: own
    effect: allow
    actions: [ModifyReplicationGroup]
    other_params: allow
    resource_tags: {team: "${caller.tags.team}"}
"""


def test_replay_takes_resource_tags_from_fixtures(tmp_path):
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps(CLOUDTRAIL))
    identities = tmp_path / "identities.yaml"
    identities.write_text(
        "identities:\n  - caller: payments-deployer\n    session_name: payments-deployer\n    tags: {team: payments}\n"
    )
    fixtures = tmp_path / "tags.yaml"
    # `orders` belongs to another team: the ownership rule would deny it.
    fixtures.write_text("orders: {team: search}\n")
    args = ["--identities", str(identities), str(trail)]
    denied = replay(tmp_path, OWNED, "--resource-tags", str(fixtures), *args)
    assert "1 newly denied" in denied.stdout, denied.stdout
    assert "replication group `orders` (`ReplicationGroupId`) lacks the tag `team=payments`: it has `team=search`" in denied.stdout
    fixtures.write_text("orders: {team: payments}\n")
    same = replay(tmp_path, OWNED, "--resource-tags", str(fixtures), *args)
    assert "0 newly denied" in same.stdout, same.stdout
    # Without the tags, the rule cannot be judged, and fails closed.
    unknown = replay(tmp_path, OWNED, *args)
    assert "1 newly denied" in unknown.stdout and "were not looked up" in unknown.stdout, unknown.stdout
