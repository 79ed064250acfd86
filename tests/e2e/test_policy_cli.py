"""The policy tooling as a user runs it: `check`, `explain` and `test`, with
their output and exit codes (0 ok, 1 errors or failures, 2 usage)."""

from __future__ import annotations

import json
import subprocess

from conftest import REPO, require_proxy_binary

BAD_POLICY = """\
rules:
  - id: prod-app-ingress
    effect: allow
    actions: [AuthoriseCacheSecurityGroupIngress]
    owner_ids: [123456781234]
"""
WARNED_POLICY = """\
rules:
  - id: describe-by-owner
    effect: allow
    actions: ["Describe*"]
    owner_ids: ["123456781234"]
"""
INGRESS = (
    "Action=AuthorizeCacheSecurityGroupIngress&Version=2015-02-02&CacheSecurityGroupName=prod-web"
    "&EC2SecurityGroupName=app-web&EC2SecurityGroupOwnerId=123456781234"
)


def run(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(require_proxy_binary()), *args], capture_output=True, text=True, timeout=30, cwd=cwd
    )


def test_check_prints_every_error_with_line_and_column(tmp_path):
    (tmp_path / "mine.yaml").write_text(BAD_POLICY)
    done = run("check", "--policy", "mine.yaml", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "mine.yaml: 2 errors in policy"
    assert lines[1].startswith("  mine.yaml:4:5: rule `prod-app-ingress`: `actions`:")
    assert "did you mean `AuthorizeCacheSecurityGroupIngress`?" in lines[1]
    assert lines[2].startswith("  mine.yaml:5:5: rule `prod-app-ingress`: `owner_ids`:")


def test_check_warnings_fail_only_with_deny_warnings(tmp_path):
    (tmp_path / "warned.yaml").write_text(WARNED_POLICY)
    done = run("check", "--policy", "warned.yaml", cwd=tmp_path)
    assert done.returncode == 0
    assert "warned.yaml:5:5: warning: rule `describe-by-owner`: `owner_ids`: the rule can never match" in done.stdout
    assert done.stdout.rstrip().endswith("warned.yaml: 1 rule, 1 warning")
    assert run("check", "--deny-warnings", "--policy", "warned.yaml", cwd=tmp_path).returncode == 1


def test_check_names_unknown_callers(tmp_path):
    (tmp_path / "callers.yaml").write_text(
        "callers:\n  - name: ci-deployer\n    access_key_id: AKIDCIDEPLOYER000001\n"
        '    secret_access_key: "ci/Deployer+Secret/0123456789"\n'
    )
    (tmp_path / "p.yaml").write_text("rules:\n  - id: a\n    effect: allow\n    callers: [ci-deploy]\n")
    done = run("check", "--policy", "p.yaml", "--callers", "callers.yaml", cwd=tmp_path)
    # A warning, not an error: a removed caller must never block a reload.
    assert done.returncode == 0, done.stdout
    assert (
        "p.yaml:4:5: warning: rule `a`: `callers`: `ci-deploy` is not a caller in the callers file, "
        "so the rule can never match (hint: did you mean `ci-deployer`?)"
    ) in done.stdout
    done = run("check", "--deny-warnings", "--policy", "p.yaml", "--callers", "callers.yaml", cwd=tmp_path)
    assert done.returncode == 1


def test_usage_errors_exit_2():
    for args in (["check"], ["explain", "--policy", "policies/default.yaml"], ["test"], ["frobnicate"]):
        done = run(*args)
        assert done.returncode == 2, args
        assert "usage:" in done.stderr


def test_explain_shows_the_decision_and_the_callers_error():
    done = run("explain", "--policy", "policies/default.yaml", "--region", "us-east-1", "--caller", "local-app", INGRESS)
    assert done.returncode == 0
    assert done.stdout.startswith("decision: deny\nrules: no-ingress-changes\n")
    assert "<Code>InvalidParameterCombination</Code>" in done.stdout
    as_json = json.loads(
        run("explain", "--json", "--policy", "policies/default.yaml", "--region", "us-east-1", INGRESS).stdout
    )
    assert as_json["decision"] == "deny"
    assert as_json["rules"] == ["no-ingress-changes"]
    assert as_json["error"]["code"] == "InvalidParameterCombination"
    assert as_json["error"]["status"] == 400
    rejected = run("explain", "--policy", "policies/default.yaml", "--region", "us-east-1", "Version=2015-02-02")
    assert rejected.returncode == 1
    assert "MissingAction" in rejected.stderr


def test_test_runs_cases_and_fails_on_a_wrong_decision(tmp_path):
    (tmp_path / "policy.yaml").write_text((REPO / "policies" / "default.yaml").read_text())
    (tmp_path / "mine.test.yaml").write_text(
        "policy: policy.yaml\ntests:\n"
        "  - name: describe is allowed\n    region: us-east-1\n    request: {Action: DescribeCacheClusters}\n"
        "    expect: allow\n    rules: [read-only]\n"
        "  - name: ingress is allowed (wrong)\n    region: us-east-1\n"
        f'    request: "{INGRESS}"\n    expect: allow\n'
    )
    done = run("test", str(tmp_path))
    assert done.returncode == 1
    assert "ok    " in done.stdout and "describe is allowed" in done.stdout
    assert "FAIL  " in done.stdout and "expected allow, got deny (rules: no-ingress-changes)" in done.stdout
    assert done.stdout.rstrip().endswith("1 passed, 1 failed")
    shipped = run("test", "policies")
    assert shipped.returncode == 0, shipped.stdout


def test_test_warns_about_callers_the_test_file_does_not_list(tmp_path):
    (tmp_path / "policy.yaml").write_text("rules:\n  - id: a\n    effect: allow\n    callers: [ci-deploy]\n")
    (tmp_path / "mine.test.yaml").write_text(
        "policy: policy.yaml\ncallers: [ci-deployer]\ntests:\n"
        "  - name: nothing matches a name the callers lack\n    caller: ci-deployer\n    region: us-east-1\n"
        "    request: {Action: DescribeCacheClusters}\n    expect: deny\n"
    )
    done = run("test", str(tmp_path))
    # A warning, and the tests still run.
    assert done.returncode == 0, done.stdout
    assert "warning: rule `a`: `callers`: `ci-deploy` is not a caller in the callers file" in done.stdout
    [warning] = [line for line in done.stdout.splitlines() if line.startswith("warn  ")]
    assert ":4:5: warning:" in warning and "did you mean `ci-deployer`?" in warning, warning
    assert done.stdout.rstrip().endswith("1 passed, 0 failed")
