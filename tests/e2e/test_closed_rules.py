"""Closed rules (`other_params: deny`) through the proxy: a request that
carries a parameter the rule does not name is denied, the denial and the
audit line name that parameter (a secret's value hidden), and `check` warns
about an allow rule that leaves security-relevant parameters open. boto3
through the proxy to the signature-checking fake upstream."""

import subprocess

import pytest

from conftest import require_proxy_binary
from support import client_error

TOKEN = "rotated-token-0123456789abcdef"

CLOSED_POLICY = """\
rules:
  - id: payments-modify
    effect: allow
    actions: [ModifyReplicationGroup]
    params:
      ReplicationGroupId: {matches: "payments-[a-z0-9-]+"}
      SecurityGroupIds: {all_in: [sg-0aa, sg-0bb], if_absent: match}
    other_params: deny
    other_params_allowed: [ApplyImmediately]
"""


def test_a_closed_rule_lets_through_only_what_it_names(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=CLOSED_POLICY, denial_detail="full")
    client = make_client(proxy)
    client.modify_replication_group(
        ReplicationGroupId="payments-orders", SecurityGroupIds=["sg-0aa"], ApplyImmediately=True
    )
    [forwarded] = upstream.requests
    assert forwarded.signature_ok, forwarded.signature_problems
    # The same modify, with plaintext transit allowed again on the side.
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.modify_replication_group(
            ReplicationGroupId="payments-orders", SecurityGroupIds=["sg-0aa"], TransitEncryptionMode="preferred"
        )
    message = client_error(raised)[2]
    assert (
        "rule `payments-modify`: the request carries `TransitEncryptionMode` = `preferred`, "
        "which the rule does not name (`other_params: deny`)"
    ) in message, message
    assert len(upstream.requests) == 1
    denied = proxy.audit_records()[-1]
    assert denied["decision"] == "deny"
    assert denied["params"]["TransitEncryptionMode"] == "preferred", denied


def test_a_secret_that_closes_a_rule_is_named_never_shown(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=CLOSED_POLICY, denial_detail="full")
    client = make_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        client.modify_replication_group(ReplicationGroupId="payments-orders", AuthToken=TOKEN)
    message = client_error(raised)[2]
    assert "the request carries `AuthToken` = `(secret)`" in message, message
    assert upstream.requests == []
    [line] = proxy.audit_records()
    assert line["params"]["AuthToken"] == "(secret)", line
    logs = proxy.audit_text() + proxy.stderr() + message
    assert "rotated-token" not in logs


def check(tmp_path, policy, *flags):
    (tmp_path / "p.yaml").write_text(policy)
    return subprocess.run(
        [str(require_proxy_binary()), "check", "--policy", "p.yaml", *flags],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )


def test_check_warns_about_an_open_allow_rule(tmp_path):
    open_policy = CLOSED_POLICY.replace("    other_params: deny\n    other_params_allowed: [ApplyImmediately]\n", "")
    done = check(tmp_path, open_policy, "--deny-warnings=open-parameters")
    assert done.returncode == 1, done
    assert (
        "p.yaml:2:5: warning: rule `payments-modify`: the allow rule leaves security-relevant parameters open: "
        "`CacheSecurityGroupNames`, `IpDiscovery`, `TransitEncryptionEnabled`, `TransitEncryptionMode` and 9 more "
        "(hint: close the rule with `other_params: deny`, or name them in `params`"
    ) in done.stderr + done.stdout, done
    assert check(tmp_path, CLOSED_POLICY, "--deny-warnings").returncode == 0
    # Open on purpose, said so: no warning.
    said = open_policy + "    other_params: allow\n"
    assert check(tmp_path, said, "--deny-warnings").returncode == 0
