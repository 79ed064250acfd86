"""The policy tooling as a user runs it: `check`, `explain` and `test`, with
their output and exit codes (0 ok, 1 errors or failures, 2 usage)."""

from __future__ import annotations

import json
import subprocess

from conftest import require_proxy_binary
from harness.processes import REPO

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


def test_check_denies_only_the_kinds_of_warning_named(tmp_path):
    (tmp_path / "callers.yaml").write_text(
        "callers:\n  - name: ci-deployer\n    access_key_id: AKIDCIDEPLOYER000001\n"
        '    secret_access_key: "ci/Deployer+Secret/0123456789"\n'
    )
    (tmp_path / "p.yaml").write_text("rules:\n  - id: a\n    effect: allow\n    callers: [ci-deploy]\n")
    check = ["check", "--policy", "p.yaml", "--callers", "callers.yaml"]
    assert run(*check, "--deny-warnings=unknown-caller", cwd=tmp_path).returncode == 1
    assert run(*check, "--deny-warnings=lowercase-pattern,shadowed-allow", cwd=tmp_path).returncode == 0
    done = run(*check, "--deny-warnings=unknown-callers", cwd=tmp_path)
    assert done.returncode == 2
    assert "did you mean `unknown-caller`?" in done.stderr, done.stderr


def test_check_warns_about_any_in_in_an_allow_rule(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "rules:\n  - id: some-good-group\n    effect: allow\n    actions: [CreateReplicationGroup]\n"
        "    params:\n      SecurityGroupIds: {any_in: [sg-0aa]}\n"
    )
    done = run("check", "--policy", "p.yaml", "--deny-warnings=any-in-allow", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert (
        "warning: rule `some-good-group`: `params`: `any_in` on `SecurityGroupIds` in an allow rule: "
        "one good item among bad ones satisfies it (hint: use `all_in` to allow only these)"
    ) in done.stdout, done.stdout
    assert run("check", "--policy", "p.yaml", "--deny-warnings=unknown-caller", cwd=tmp_path).returncode == 0


def test_check_warns_about_settings_a_create_could_inherit(tmp_path):
    rule = "rules: [{id: groups, effect: allow, actions: [CreateReplicationGroup], params: {%s}}]\n"
    check = ["check", "--deny-warnings=inherits-settings", "--policy", "p.yaml"]
    (tmp_path / "p.yaml").write_text(rule % "SecurityGroupIds: {all_in: [sg-0aa]}")
    done = run(*check, cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "a request with `PrimaryClusterId`" in done.stdout, done.stdout
    ruled_out = ", ".join(
        f"{name}: {{present: false}}"
        for name in ["PrimaryClusterId", "GlobalReplicationGroupId", "SnapshotArns", "SnapshotName"]
    )
    (tmp_path / "p.yaml").write_text(rule % f"SecurityGroupIds: {{all_in: [sg-0aa]}}, {ruled_out}")
    assert run(*check, cwd=tmp_path).returncode == 0


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


# ---- every file's errors, reported one way ---------------------------------------------
def check_lines(folder, policy: str) -> list[str]:
    """What `check` prints about an invalid policy."""
    done = run("check", "--policy", policy, cwd=folder)
    assert done.returncode == 1, done.stdout
    return done.stdout.splitlines()


def test_unquoted_account_ids_are_errors_whatever_their_digits(tmp_path):
    import yaml

    # Why: a YAML reader other than the proxy's may read the id as another number.
    assert yaml.safe_load("[012345670123]") == [1402433619]
    (tmp_path / "p.yaml").write_text(
        "rules:\n  - id: a\n    effect: allow\n    actions: [AuthorizeCacheSecurityGroupIngress]\n"
        "    owner_ids: [012345670123, \"123456781234\", 1234-5678-1234]\n"
    )
    assert check_lines(tmp_path, "p.yaml") == [
        "p.yaml: 1 error in policy",
        '  p.yaml:5:5: rule `a`: `owner_ids`: account id 012345670123 must be a quoted string (hint: write "012345670123")',
    ]


def test_errors_show_the_value_found_and_come_in_line_order(tmp_path):
    # Found rule by rule, and the duplicate id after its rule: shown by line.
    (tmp_path / "p.yaml").write_text(
        "rules:\n"
        "  - id: a\n"
        "    effect: Allow\n"
        "    mode: dry-run\n"
        "  - effect: deny\n"
        "    id: a\n"
        "    regions: [mars]\n"
        "    mesage: frozen\n"
    )
    assert check_lines(tmp_path, "p.yaml") == [
        "p.yaml: 5 errors in policy",
        "  p.yaml:3:5: rule `a`: `effect`: `effect` must be `allow` or `deny`, not `Allow` (hint: did you mean `allow`?)",
        "  p.yaml:4:5: rule `a`: `mode`: `mode` must be `enforce` or `shadow`, not `dry-run` "
        "(hint: `mode: shadow` computes and logs the rule's decision without enforcing it)",
        "  p.yaml:6:5: rule `a`: `id`: duplicate rule id `a` "
        "(hint: rule ids must be unique: the decision names the rules that decided it)",
        "  p.yaml:7:5: rule `a`: `regions`: `mars` is not an AWS region name (hint: regions look like `us-east-1` or `eu-west-1`)",
        "  p.yaml:8:5: rule `a`: `mesage`: unknown key `mesage` (hint: did you mean `message`?)",
    ]


def test_serve_reports_every_config_error_and_starts_nothing(tmp_path):
    (tmp_path / "proxy.yaml").write_text(
        'listen: "127.0.0.1:8080"\npolicy: p.yaml\ncallers: c.yaml\n'
        "upstream:\n  timeout: 10\n  max_response_bytes: 0\ndenial_detail: Full\n"
    )
    done = run("serve", "--config", "proxy.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "elasticache-authz-proxy: proxy.yaml: 4 errors in config",
        "  proxy.yaml:4:1: `upstream`: missing the key `endpoint` "
        '(hint: for example `endpoint: "https://elasticache.{region}.amazonaws.com"`)',
        "  proxy.yaml:5:3: `upstream.timeout`: `10` is not a duration such as `500ms`, `10s` or `2m` "
        "(hint: give it a unit, such as `10s`)",
        "  proxy.yaml:6:3: `upstream.max_response_bytes`: `max_response_bytes` must be more than zero, not `0`",
        "  proxy.yaml:7:1: `denial_detail`: `denial_detail` must be `caller` or `full`, not `Full` "
        "(hint: did you mean `full`?)",
    ]


def test_check_reports_the_callers_file_and_the_policy_together(tmp_path):
    (tmp_path / "callers.yaml").write_text(
        "callers:\n  - name: ci-deployer\n    access_key_id: AKIDCIDEPLOYER000001\n"
        '    secret_access_key: "ci/Deployer+Secret/0123456789"\n    certificate_only: yes\n'
    )
    (tmp_path / "p.yaml").write_text(BAD_POLICY)
    done = run("check", "--policy", "p.yaml", "--callers", "callers.yaml", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[:2] == [
        "callers.yaml: 1 error in callers file",
        "  callers.yaml:5:5: caller `ci-deployer`: `certificate_only`: `certificate_only` must be `true` or `false`, not `yes`",
    ]
    assert lines[2] == "p.yaml: 2 errors in policy"
    assert "ci/Deployer+Secret" not in done.stdout + done.stderr


def test_test_reports_a_test_file_it_cannot_read_at_its_line(tmp_path):
    (tmp_path / "policy.yaml").write_text((REPO / "policies" / "default.yaml").read_text())
    (tmp_path / "bad.test.yaml").write_text(
        "policy: policy.yaml\ntests:\n  - name: x\n    region: us-east-1\n"
        "    request: {Action: DescribeCacheClusters}\n    expct: allow\n"
    )
    done = run("test", "bad.test.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "elasticache-authz-proxy: bad.test.yaml: 1 error in test file",
        "  bad.test.yaml:6:5: tests[0]: unknown field `expct`, expected one of "
        "`name`, `caller`, `caller_tags`, `resource_tags`, `at`, `region`, `request`, `expect`, `rules`",
    ]


# ---- nothing a secret holds is printed ------------------------------------------------
# The two halves of an AuthToken whose `&` was not encoded, and a token
# written into a policy by mistake.
TOKEN_START, TOKEN_REST, WRITTEN = "token-start-7c1e", "Token-Rest-9f3b", "hunter2-written"
CREATE = "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg&ReplicationGroupDescription=d"
AFTER_TOKEN = "it is not shown, since it follows `AuthToken` and may be part of its value"


def assert_nothing_secret(*texts: str) -> None:
    for text in texts:
        for piece in (TOKEN_START, TOKEN_REST, WRITTEN):
            assert piece not in text, text


def test_explain_and_test_show_no_piece_of_a_secret(tmp_path):
    requests = [
        (f"{CREATE}&AuthToken={TOKEN_START}&{TOKEN_REST}", f"query string: the 6th pair has no `=`: expected `Name=value`; {AFTER_TOKEN}"),
        (f"{CREATE}&AuthToken={TOKEN_START}&{TOKEN_REST}=1", f"the 6th pair of the query string: CreateReplicationGroup does not take a parameter of its name; {AFTER_TOKEN}"),
        (
            "Action=CreateUser&Version=2015-02-02&UserId=u1&UserName=n1&Engine=redis&AccessString=on"
            f"&Passwords.member.1={TOKEN_START}&Passwords.member.{TOKEN_REST}=x",
            "the 8th pair of the query string: it numbers a list item other than 1, 2, 3 and so on; it is not shown, since it follows `Passwords`",
        ),
        (f'{{"Action": "CreateReplicationGroup", "AuthToken": "{TOKEN_START}&{TOKEN_REST}"}}', "the query string looks like JSON"),
    ]
    for request, says in requests:
        done = run("explain", "--policy", "policies/default.yaml", "--region", "us-east-1", request)
        assert done.returncode == 1, done.stdout
        assert says in done.stderr, done.stderr
        assert_nothing_secret(done.stdout, done.stderr)
    (tmp_path / "policy.yaml").write_text((REPO / "policies" / "default.yaml").read_text())
    cases = "".join(
        f"  - name: case {i}\n    region: us-east-1\n    request: '{request}'\n    expect: deny\n"
        for i, (request, _) in enumerate(requests[:3])
    )
    (tmp_path / "secret.test.yaml").write_text(f"policy: policy.yaml\ntests:\n{cases}")
    done = run("test", str(tmp_path))
    assert done.returncode == 1, done.stdout
    for _, says in requests[:3]:
        assert says in done.stdout, done.stdout
    assert_nothing_secret(done.stdout, done.stderr)


def test_check_prints_no_value_written_for_a_secret(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "rules:\n"
        + "".join(
            f"  - id: r{i}\n    effect: allow\n    actions: [CreateReplicationGroup]\n    params:\n      AuthToken: {condition}\n"
            for i, condition in enumerate(
                [f'{{present: "{WRITTEN}"}}', f'{{present: true, if_absent: "{WRITTEN}"}}', f"{{{WRITTEN}: true}}"]
            )
        )
    )
    done = run("check", "--policy", "p.yaml", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0] == "p.yaml: 3 errors in policy", done.stdout
    assert "`params.AuthToken.present`: `present` must be `true` or `false`, not the value written (not shown: `AuthToken` carries a secret)" in lines[1]
    assert "`params.AuthToken.if_absent`: `if_absent` must be `match`, `no_match` or `default`, not the value written (not shown: `AuthToken` carries a secret)" in lines[2]
    assert "`params.AuthToken`: an unknown condition (not shown: `AuthToken` carries a secret)" in lines[3]
    assert_nothing_secret(done.stdout, done.stderr)
