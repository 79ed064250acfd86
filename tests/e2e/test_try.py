"""scripts/try.sh, the README's five-minute local try, run as a user runs it:
moto as ElastiCache, the proxy with policies/vpc-team.yaml in front of it,
the aws CLI through it. The suite runs the script itself, so the README's
first command cannot rot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import require_proxy_binary
from harness.metrics import Metrics
from harness.processes import REPO, listening

DENIAL = (
    "An error occurred (InvalidParameterCombination) when calling the CreateReplicationGroup operation: "
    "not allowed by policy: no rule allows CreateReplicationGroup by caller `payments-deployer` in region `eu-west-1`"
)


def sections(output: str) -> dict[str, str]:
    """The script's output split at its `== N. ...` headings, by N."""
    parts = re.split(r"^== (\d)\. .*$", output, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_try_sh_shows_an_allowed_and_a_denied_create(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "VENV": sys.prefix,  # the venv running this suite: everything is installed
        "PROXY_BIN": str(require_proxy_binary()),
    }
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "try.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"try.sh exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    out = done.stdout
    parts = sections(out)
    assert sorted(parts) == ["1", "2", "3", "4"], out

    # 1. the allowed create reached moto, which answered with the new group.
    allowed = parts["1"]
    assert "$ aws elasticache create-replication-group \\\n    --endpoint-url http://127.0.0.1:" in allowed
    created = json.loads(allowed[allowed.index("\n{") :])
    assert created == {"Id": "payments-orders", "Status": "available", "Transit": True, "AtRest": True}

    # 2. the denied create: the CLI's own error line, and its exit status.
    denied = parts["2"]
    assert "--security-group-ids sg-0a1b2c3d4e5f60001 sg-0badc0ffee0000bad" in denied
    assert DENIAL + "\n" in denied, denied
    assert "(the aws CLI exited with 255)" in denied

    # 3. two audit lines: the allow, forwarded; the deny, with its reason.
    lines = [json.loads(line) for line in parts["3"].splitlines() if line.startswith("{")]
    assert len(lines) == 2, parts["3"]
    first, second = lines
    assert (first["decision"], first["rules"], first["upstream_status"], first["caller"]) == (
        "allow",
        ["payments-creates-replication-groups"],
        200,
        "payments-deployer",
    )
    assert (second["decision"], second["error_code"], second["upstream_status"]) == (
        "deny",
        "InvalidParameterCombination",
        None,
    )
    assert (
        "`SecurityGroupIds` `[sg-0a1b2c3d4e5f60001, sg-0badc0ffee0000bad]` has items outside"
        in second["explanation"]
    )

    # 4. the decision counters.
    counters = [line for line in parts["4"].splitlines() if line.startswith("elasticache_authz_proxy_")]
    metrics = Metrics.parse("\n".join(counters))
    common = {"action": "CreateReplicationGroup", "caller": "payments-deployer", "mode": "enforce"}
    assert metrics.get("requests_total", **common, decision="allow", rule="payments-creates-replication-groups") == 1
    assert metrics.get("requests_total", **common, decision="deny", rule="none") == 1

    # Everything it started is stopped, and its folder is gone.
    ports = [int(p) for p in re.findall(r"listens on (?:http://)?127\.0\.0\.1:(\d+)", out)]
    assert len(ports) == 2, out
    assert not any(listening(port) for port in ports), ports
    [folder] = re.findall(r"removing (\S+)$", out, flags=re.M)
    assert folder.startswith(str(tmp_path)) and not os.path.exists(folder)
