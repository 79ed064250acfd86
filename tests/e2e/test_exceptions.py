"""Exceptions that expire (`expires:` and `reason:` on a rule) through the
proxy: an exception decides until its time and matches nothing after it,
without a reload; the audit line and the denial name the exception that
decided; `/metrics` carries the time of the next one to end; `check` and
`test --at` judge them at a given time. boto3 through the proxy to the
signature-checking fake upstream."""

import calendar
import subprocess
import time

import pytest

from conftest import require_proxy_binary
from support import client_error


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def policy(ends: float, freeze_ends: float) -> str:
    return f"""\
rules:
  - id: decommission
    effect: allow
    actions: [DeleteReplicationGroup]
    expires: "{rfc3339(ends)}"
    reason: "OPS-42: decommission the old orders cache"
  - id: freeze
    effect: deny
    actions: [ModifyReplicationGroup]
    expires: "{rfc3339(freeze_ends)}"
    reason: "CHG-7: holiday freeze"
  - id: modify
    effect: allow
    actions: [ModifyReplicationGroup]
    other_params: allow
"""


def test_an_exception_decides_until_its_time_then_matches_nothing(start_proxy, make_client, upstream):
    now = time.time()
    # Seconds, not days: the proxy judges each request at its own time.
    proxy = start_proxy(policy=policy(now + 3, now + 3), denial_detail="full", admin=True)
    client = make_client(proxy)
    client.delete_replication_group(ReplicationGroupId="orders-old")
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.modify_replication_group(ReplicationGroupId="orders", ApplyImmediately=True)
    message = client_error(raised)[2]
    assert "(`freeze` is an exception until" in message and "CHG-7: holiday freeze" in message, message
    allowed, denied = proxy.audit_records()
    assert allowed["exceptions"] == [
        {"rule": "decommission", "reason": "OPS-42: decommission the old orders cache", "expires": rfc3339(now + 3)}
    ], allowed
    assert denied["exceptions"][0]["rule"] == "freeze", denied
    next_expiry = proxy.metrics().value("policy_next_expiry_timestamp_seconds")
    assert next_expiry == calendar.timegm(time.strptime(rfc3339(now + 3), "%Y-%m-%dT%H:%M:%SZ"))
    time.sleep(max(0.0, now + 3.2 - time.time()))
    # The same policy, no reload: the delete is no longer allowed, and the
    # freeze no longer denies.
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.delete_replication_group(ReplicationGroupId="orders-old")
    assert "the exception expired at" in proxy.audit_records()[-1]["explanation"]
    client.modify_replication_group(ReplicationGroupId="orders", ApplyImmediately=True)
    assert [r.action for r in upstream.requests] == ["DeleteReplicationGroup", "ModifyReplicationGroup"]
    assert proxy.audit_records()[-1]["exceptions"] is None
    assert proxy.metrics().value("policy_next_expiry_timestamp_seconds") == 0


def test_check_and_test_judge_exceptions_at_a_given_time(tmp_path):
    binary = str(require_proxy_binary())
    path = tmp_path / "policy.yaml"
    path.write_text(policy(calendar.timegm((2026, 12, 10, 0, 0, 0)), calendar.timegm((2027, 1, 4, 23, 0, 0))))
    checked = subprocess.run([binary, "check", "--policy", str(path), "--deny-warnings=expired"], capture_output=True, text=True)
    # Only an expired exception fails `--deny-warnings=expired`, and the
    # decommission ends in 2026: by the time this runs it may have.
    expired = time.time() >= calendar.timegm((2026, 12, 10, 0, 0, 0))
    assert checked.returncode == (1 if expired else 0), checked.stdout
    (tmp_path / "policy.test.yaml").write_text(
        """\
policy: policy.yaml
tests:
  - name: the decommission is allowed before its end
    region: us-east-1
    at: "2026-12-09T23:59:59Z"
    request: {Action: DeleteReplicationGroup, ReplicationGroupId: orders-old}
    expect: allow
    rules: [decommission]
  - name: and denied after
    region: us-east-1
    at: "2026-12-10T00:00:00Z"
    request: {Action: DeleteReplicationGroup, ReplicationGroupId: orders-old}
    expect: deny
  - name: modifies are frozen at the time test runs at
    region: us-east-1
    request: {Action: ModifyReplicationGroup, ReplicationGroupId: orders}
    expect: deny
    rules: [freeze]
"""
    )
    run = lambda *args: subprocess.run([binary, "test", str(tmp_path), *args], capture_output=True, text=True)
    frozen = run("--at", "2027-01-01T00:00:00Z")
    assert frozen.returncode == 0, frozen.stdout
    assert "3 passed, 0 failed" in frozen.stdout, frozen.stdout
    thawed = run("--at", "2027-01-05T00:00:00Z")
    assert thawed.returncode == 1, thawed.stdout
    assert "FAIL" in thawed.stdout and "modifies are frozen" in thawed.stdout, thawed.stdout
    bad = run("--at", "soon")
    assert bad.returncode != 0 and "`--at` must be an RFC 3339 time" in bad.stderr, bad.stderr
