"""The policy holds (issue 12), against the running binary:

- names are compared as AWS compares them: cache security group names are
  lower-cased (decided on and forwarded in that form), EC2 security group
  names match without case, and `check` warns about a cache group pattern
  no lower-case name can match;
- the file watcher never installs a half-written policy or callers file
  (`watch_settle`), but installs a Kubernetes symlink swap at once, and
  SIGHUP / POST /reload never wait;
- revocation always works: a rule naming an absent caller is only a warning,
  and a callers file that fails, is refused or is gone still revokes whom it
  no longer lists;
- the callers file and its folder must belong to the proxy's user or root,
  and nobody else may write the folder (unless it is sticky);
- request values in the audit line of a request that was not authenticated
  and forwarded are cut to 256 bytes (`shortened`, and a counter);
- `certificate_only` callers need not sign, and where the region of an
  unsigned request comes from;
- a denied caller is told only what concerns it (`denial_detail`), the audit
  line and `explain` have the full explanation."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from pathlib import Path

import botocore
import botocore.config
import botocore.exceptions
import pytest

from conftest import TRUSTED_CALLER, require_proxy_binary, serve_once, write_config
from harness import aws
from harness.certs import TestCA
from harness.processes import free_port, wait_for
from support import (
    ALLOWED_INGRESS,
    client_error,
    API_VERSION,
    TEST_POLICY,
    PROXY_SECRET_KEY,
    RawResponse,
    assert_api_error,
    form_encode,
    ingress_pairs,
    parse_error_xml,
    send_raw,
)

OWNER = "123456781234"
CI_KEY, CI_SECRET = "AKIDCIDEPLOYER000001", "ci/Deployer+Secret/0123456789abcdefghij"
APP_KEY, APP_SECRET = "AKIDAPPPAYMENTS00001", "app/Payments+Secret/0123456789abcdefgh"
OPS_KEY, OPS_SECRET = "AKIDOPSDEPLOYER00001", "ops/Deployer+Secret/0123456789abcdefghi"
APP_IDENTITY = "spiffe://example.test/ns/payments/sa/app"
BATCH_IDENTITY = "batch.internal.test"

CI_ENTRY = f"""\
  - name: ci-deployer
    access_key_id: {CI_KEY}
    secret_access_key: "{CI_SECRET}"
"""
APP_ENTRY = f"""\
  - name: app-payments
    access_key_id: {APP_KEY}
    secret_access_key: "{APP_SECRET}"
    tls_identities: ["{APP_IDENTITY}"]
"""
OPS_ENTRY = f"""\
  - name: ops
    access_key_id: {OPS_KEY}
    secret_access_key: "{OPS_SECRET}"
"""
BATCH_ENTRY = f"""\
  - name: batch
    tls_identities: ["{BATCH_IDENTITY}"]
    certificate_only: true
"""
CALLERS = "callers:\n" + CI_ENTRY + APP_ENTRY
SECRETS = [CI_SECRET, APP_SECRET, OPS_SECRET, PROXY_SECRET_KEY]

# Describes for everyone; ingress for ci-deployer only (prod-* groups).
CALLER_POLICY = """\
rules:
  - id: describe-for-everyone
    effect: allow
    actions: ["Describe*"]
  - id: ci-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    callers: [ci-deployer]
    owner_ids: ["123456781234"]
    cache_security_groups: ["prod-[a-z0-9-]+"]
    ec2_security_groups: ["app-[a-z0-9-]+"]
"""


# ---- helpers ---------------------------------------------------------------------
def revision(text: str) -> str:
    """The policy revision of a policy file's text: sha256 prefix of its bytes."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def revisions(proxy) -> set[str]:
    """The revisions /metrics says are in force (one, but for the instant of a swap)."""
    return {s.labels["revision"] for s in proxy.metrics().series("policy_info") if s.value == 1}


def replace_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Swaps a file's content in one step (write a temporary file, rename it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)




def call_error(call) -> tuple[int, str, str] | None:
    """None when `call()` succeeds, else (status, code, message)."""
    try:
        call()
    except botocore.exceptions.ClientError as err:
        return (
            err.response["ResponseMetadata"]["HTTPStatusCode"],
            err.response["Error"]["Code"],
            err.response["Error"]["Message"],
        )
    return None


def ingress(client, cache: str, ec2: str = "app-frontend"):
    return client.authorize_cache_security_group_ingress(
        CacheSecurityGroupName=cache, EC2SecurityGroupName=ec2, EC2SecurityGroupOwnerId=OWNER
    )


def ingress_status(proxy, group: str) -> int:
    """A raw ingress request for `group` (trusted sidecar mode)."""
    return send_raw(proxy.port, body=form_encode(ingress_pairs(CacheSecurityGroupName=group))).status


def log_with(proxy, msg_prefix: str) -> list[dict]:
    return [r for r in proxy.log_records() if str(r.get("msg", "")).startswith(msg_prefix)]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(require_proxy_binary()), *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


# ==== 1. names are compared as AWS compares them ===========================================
NAMES_POLICY = """\
rules:
  - id: any-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["(?i)[a-z0-9-]+"]
  - id: payments-frozen
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["prod-payments.*"]
  - id: no-default-ec2
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    ec2_security_groups: ["default", "(?-i)legacy-[a-z]+"]
"""


@pytest.mark.parametrize(
    "cache, ec2, rule",
    [
        ("PROD-PAYMENTS-1", "app-frontend", "payments-frozen"),
        ("Prod-Payments-1", "app-frontend", "payments-frozen"),
        ("prod-web", "Default", "no-default-ec2"),
        ("prod-web", "DEFAULT", "no-default-ec2"),
        # `(?-i)` cannot opt a pattern out of EC2's case-insensitive names.
        ("prod-web", "LEGACY-Db", "no-default-ec2"),
    ],
)
def test_no_spelling_of_a_name_gets_past_a_deny_rule(start_proxy, make_client, upstream, cache, ec2, rule):
    proxy = start_proxy(policy=NAMES_POLICY)
    client = make_client(proxy)
    with pytest.raises(client.exceptions.InvalidParameterCombinationException) as raised:
        ingress(client, cache, ec2)
    status, _, message = client_error(raised)
    assert status == 400
    assert message.startswith(f"denied by policy rule `{rule}` for AuthorizeCacheSecurityGroupIngress"), message
    assert upstream.requests == []
    [line] = proxy.audit_records()
    assert (line["decision"], line["rules"]) == ("deny", [rule])
    # The audit line shows the name ElastiCache would act on; EC2's as sent.
    assert (line["cache_security_group"], line["ec2_security_group"]) == (cache.lower(), ec2)


def test_cache_group_is_forwarded_in_lower_case_and_ec2_group_as_sent(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=NAMES_POLICY)
    result = ingress(make_client(proxy), "Prod-Web", "App-Frontend")
    assert result["CacheSecurityGroup"]["CacheSecurityGroupName"] == "prod-web"
    [record] = upstream.requests
    assert record.signature_ok, record.signature_problems
    assert record.params["CacheSecurityGroupName"] == "prod-web"
    assert record.params["EC2SecurityGroupName"] == "App-Frontend"
    [line] = proxy.audit_records()
    assert (line["decision"], line["rules"]) == ("allow", ["any-ingress"])
    assert (line["cache_security_group"], line["ec2_security_group"]) == ("prod-web", "App-Frontend")


def _ingress_rule(rule_id: str, pattern: str) -> str:
    return (
        f"  - id: {rule_id}\n    effect: allow\n    actions: [AuthorizeCacheSecurityGroupIngress]\n"
        f'    cache_security_groups: ["{pattern}"]\n'
    )


def test_check_warns_about_a_cache_group_pattern_no_lower_case_name_matches(tmp_path):
    (tmp_path / "capitals.yaml").write_text(
        "rules:\n" + _ingress_rule("capitals", "Prod-.*") + _ingress_rule("lower", "prod-.*")
        + _ingress_rule("insensitive", "(?i)Prod-.*")
    )
    done = run_cli("check", "--policy", "capitals.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [line for line in done.stdout.splitlines() if "warning:" in line]
    assert len(warnings) == 1, done.stdout
    assert (
        "warning: rule `capitals`: `cache_security_groups`: `Prod-.*` can never match: "
        "ElastiCache stores cache security group names in lower case"
    ) in warnings[0]
    assert run_cli("check", "--deny-warnings", "--policy", "capitals.yaml", cwd=tmp_path).returncode == 1
    # Lower-case and case-insensitive patterns are fine.
    (tmp_path / "fine.yaml").write_text(
        "rules:\n" + _ingress_rule("lower", "prod-.*") + _ingress_rule("insensitive", "(?i)Prod-.*")
    )
    fine = run_cli("check", "--deny-warnings", "--policy", "fine.yaml", cwd=tmp_path)
    assert fine.returncode == 0, fine.stdout
    assert "warning" not in fine.stdout.replace("0 warnings", ""), fine.stdout


# ==== 2. a half-written file is never installed by the watcher =============================
WATCH_V1 = """\
rules:
  - id: any-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
  - id: no-legacy
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["prod-legacy"]
"""
WATCH_V2 = """\
rules:
  - id: any-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
  - id: no-staging
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["staging-.*"]
  - id: no-legacy
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["prod-legacy"]
"""
# What a reader sees while V2 is being written: valid YAML, the deny rule at the end cut off.
TRUNCATED_V2 = WATCH_V2[: WATCH_V2.index("  - id: no-legacy")]
WATCH_V3 = WATCH_V2 + """\
  - id: describe-all
    effect: allow
    actions: ["Describe*"]
"""
assert len({revision(t) for t in (WATCH_V1, WATCH_V2, TRUNCATED_V2, WATCH_V3)}) == 4


def test_watcher_never_installs_a_half_written_policy(start_proxy, upstream):
    proxy = start_proxy(policy=WATCH_V1, admin=True, watch_interval="100ms", watch_settle="1s")
    assert revisions(proxy) == {revision(WATCH_V1)}

    def holds() -> set[str]:
        # The deny rule at the end must hold at every moment, and the
        # truncated file must never be the one in force.
        assert ingress_status(proxy, "prod-legacy") == 400
        in_force = revisions(proxy)
        assert revision(TRUNCATED_V2) not in in_force
        return in_force

    # A slow writer: the first part of the new file sits on disk for a while
    # (well under watch_settle, but several watch intervals).
    with open(proxy.policy_path, "w") as out:
        out.write(TRUNCATED_V2)
        out.flush()
        until = time.monotonic() + 0.5
        while time.monotonic() < until:
            assert holds() == {revision(WATCH_V1)}
            time.sleep(0.03)
        out.write(WATCH_V2[len(TRUNCATED_V2):])
    written = time.monotonic()
    # The complete file is not installed before it has read the same for 1s.
    while time.monotonic() < written + 0.6:
        assert holds() == {revision(WATCH_V1)}
        time.sleep(0.03)
    wait_for(lambda: holds() == {revision(WATCH_V2)}, timeout=5, what="the complete policy to be installed")
    assert ingress_status(proxy, "staging-1") == 400  # V2's new rule is in force
    assert ingress_status(proxy, "prod-web") == 200
    m = proxy.metrics()
    # Only the complete file was ever installed (or even tried).
    assert m.value("policy_reloads_total", result="success") == 1
    assert m.value("policy_reloads_total", result="failure") == 0


def test_an_atomic_rename_is_installed_after_the_settle_interval(start_proxy, upstream):
    proxy = start_proxy(policy=WATCH_V1, admin=True, watch_interval="100ms", watch_settle="1s")
    replace_file(proxy.policy_path, WATCH_V2)
    replaced = time.monotonic()
    wait_for(lambda: revisions(proxy) == {revision(WATCH_V2)}, timeout=5, what="the renamed policy to be installed")
    took = time.monotonic() - replaced
    # Same path, same folder: not a symlink swap, so it waits to settle.
    assert took >= 0.9, f"installed {took:.2f}s after the rename, before watch_settle (1s)"
    assert ingress_status(proxy, "staging-1") == 400


def _kubernetes_volume(workdir: Path) -> None:
    """Lays policy.yaml out as kubelet does for a ConfigMap volume:
    policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>/."""
    text = (workdir / "policy.yaml").read_text()
    (workdir / "policy.yaml").unlink()
    first = workdir / "..2026_12_01_08_00_00.000000001"
    first.mkdir()
    (first / "policy.yaml").write_text(text)
    (workdir / "..data").symlink_to(first.name)
    (workdir / "policy.yaml").symlink_to("..data/policy.yaml")


def _kubernetes_update(workdir: Path, text: str, stamp: str) -> None:
    """kubelet's update: a new timestamped folder, a new ..data symlink
    renamed over the old one, then the old folder removed."""
    old = workdir / os.readlink(workdir / "..data")
    new = workdir / f"..2026_12_01_08_00_{stamp}"
    new.mkdir()
    (new / "policy.yaml").write_text(text)
    (workdir / "..data_tmp").symlink_to(new.name)
    os.rename(workdir / "..data_tmp", workdir / "..data")
    shutil.rmtree(old)


def test_a_long_settle_holds_back_an_edit_but_not_a_kubernetes_symlink_swap(start_proxy, upstream):
    proxy = start_proxy(
        policy=WATCH_V1,
        admin=True,
        watch_interval="100ms",
        watch_settle="30s",
        prepare=_kubernetes_volume,
    )
    assert proxy.policy_path.is_symlink()
    assert revisions(proxy) == {revision(WATCH_V1)}
    # An edit in place (through the symlinks) waits the 30s to settle.
    (proxy.workdir / "..data" / "policy.yaml").write_text(WATCH_V2)
    until = time.monotonic() + 2
    while time.monotonic() < until:
        assert revisions(proxy) == {revision(WATCH_V1)}, "an in-place edit was installed before watch_settle"
        time.sleep(0.1)
    assert ingress_status(proxy, "staging-1") == 200
    # A symlink swap replaces the file whole: installed at once.
    swapped = time.monotonic()
    _kubernetes_update(proxy.workdir, WATCH_V3, "30.000000002")
    wait_for(lambda: revisions(proxy) == {revision(WATCH_V3)}, timeout=3, what="the swapped policy to be installed")
    assert time.monotonic() - swapped < 3
    assert ingress_status(proxy, "staging-1") == 400
    assert send_raw(proxy.port, body=form_encode([("Action", "DescribeCacheClusters"), ("Version", API_VERSION)])).status == 200


def test_post_reload_and_sighup_do_not_wait_for_the_settle_interval(start_proxy, upstream):
    proxy = start_proxy(policy=WATCH_V1, admin=True, watch_interval="100ms", watch_settle="30s")
    proxy.policy_path.write_text(WATCH_V2)
    # The operator says the file is complete: at once.
    answer = proxy.reload()
    assert answer.status == 200, answer.text
    assert answer.json() == {"result": "reloaded", "policy_revision": revision(WATCH_V2)}
    assert revisions(proxy) == {revision(WATCH_V2)}
    proxy.policy_path.write_text(WATCH_V3)
    proxy.signal(signal.SIGHUP)
    wait_for(lambda: revisions(proxy) == {revision(WATCH_V3)}, timeout=3, what="SIGHUP to install the policy")


def test_watcher_never_installs_a_half_written_callers_file(start_proxy, make_client, upstream):
    proxy = start_proxy(
        policy=CALLER_POLICY, callers=CALLERS, admin=True, watch_interval="100ms", watch_settle="1s"
    )
    app = make_client(proxy, access_key=APP_KEY, secret_key=APP_SECRET)
    ops = make_client(proxy, access_key=OPS_KEY, secret_key=OPS_SECRET)
    complete = CALLERS + OPS_ENTRY
    half = "callers:\n" + CI_ENTRY  # valid, but app-payments not yet written

    def app_still_works():
        assert call_error(app.describe_cache_clusters) is None, "app-payments was revoked by a half-written file"

    with open(proxy.workdir / "callers.yaml", "w") as out:  # in place: the mode stays 600
        out.write(half)
        out.flush()
        until = time.monotonic() + 0.5
        while time.monotonic() < until:
            app_still_works()
            time.sleep(0.03)
        out.write(complete[len(half):])
    assert call_error(ops.describe_cache_clusters)[1] == "InvalidClientTokenId"

    def ops_known():
        app_still_works()
        return call_error(ops.describe_cache_clusters) is None

    wait_for(ops_known, timeout=5, what="the complete callers file to be installed")
    app_still_works()
    assert proxy.metrics().value("policy_reloads_total", result="success") == 1


# ==== 3. revocation always works ============================================================
GHOST_POLICY = CALLER_POLICY + """\
  - id: app-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    callers: [app-payments, ghost]
"""


def _describe_error(client):
    return call_error(client.describe_cache_clusters)


def test_a_rule_naming_an_absent_caller_is_a_warning(start_proxy, make_client, upstream, tmp_path):
    # The proxy starts (start_proxy fails the test otherwise).
    proxy = start_proxy(policy=GHOST_POLICY, callers=CALLERS, admin=True, watch_interval="0s")

    def warned():
        return [
            r
            for r in proxy.log_records()
            if r.get("level") == "warn"
            and r.get("msg") == "policy warning"
            and "`ghost` is not a caller in the callers file" in str(r.get("warning"))
        ]

    # The start-up warnings may be logged just after the listeners open.
    wait_for(warned, what="the policy warning on stderr")
    assert _describe_error(make_client(proxy, access_key=APP_KEY, secret_key=APP_SECRET)) is None
    # A reload with the same files succeeds too.
    answer = proxy.reload()
    assert answer.status == 200, answer.text
    assert answer.json()["result"] == "reloaded"
    [reloaded] = log_with(proxy, "policy reloaded")
    assert reloaded["removed_callers"] == []
    # `check --callers` says the same, as a warning.
    (tmp_path / "p.yaml").write_text(GHOST_POLICY)
    (tmp_path / "callers.yaml").write_text(CALLERS)
    (tmp_path / "callers.yaml").chmod(0o600)
    done = run_cli("check", "--policy", "p.yaml", "--callers", "callers.yaml", cwd=tmp_path)
    lines = [line for line in done.stdout.splitlines() if "`ghost` is not a caller in the callers file" in line]
    assert len(lines) == 1 and "warning: rule `app-ingress`" in lines[0], done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    strict = run_cli("check", "--deny-warnings", "--policy", "p.yaml", "--callers", "callers.yaml", cwd=tmp_path)
    assert strict.returncode == 1, strict.stdout


def test_removing_a_caller_revokes_it_though_a_rule_still_names_it(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=GHOST_POLICY, callers=CALLERS, admin=True, watch_interval="0s")
    app = make_client(proxy, access_key=APP_KEY, secret_key=APP_SECRET)
    ci = make_client(proxy, access_key=CI_KEY, secret_key=CI_SECRET)
    assert _describe_error(app) is None
    replace_file(proxy.workdir / "callers.yaml", "callers:\n" + CI_ENTRY, mode=0o600)
    answer = proxy.reload()
    assert answer.status == 200, answer.text
    assert answer.json()["result"] == "reloaded"
    assert _describe_error(app)[:2] == (403, "InvalidClientTokenId")
    assert _describe_error(ci) is None
    [reloaded] = log_with(proxy, "policy reloaded")
    assert reloaded["removed_callers"] == ["app-payments"]
    # The rule now names an absent caller: warned about, not an error.
    assert any(
        "`app-payments` is not a caller in the callers file" in str(r.get("warning"))
        for r in proxy.log_records()
        if r.get("msg") == "policy warning"
    ), proxy.stderr()


NEW_APP_SECRET = "app/Payments+Secret/CHANGED/0123456789ab"
FAILING_CALLERS = {
    # app-payments dropped; a new caller with a misspelt key makes the file fail.
    "unknown-key": "callers:\n" + CI_ENTRY + OPS_ENTRY.replace("access_key_id", "acess_key_id"),
    # app-payments with a new secret, and a YAML syntax error further down.
    "syntax-error": "callers:\n" + CI_ENTRY + APP_ENTRY.replace(APP_SECRET, NEW_APP_SECRET) + "  - name: [oops\n",
}


@pytest.mark.parametrize("kind", sorted(FAILING_CALLERS))
def test_a_callers_file_that_fails_still_revokes_whom_it_no_longer_lists(start_proxy, make_client, upstream, kind):
    proxy = start_proxy(policy=CALLER_POLICY, callers=CALLERS, admin=True, watch_interval="0s")
    app = make_client(proxy, access_key=APP_KEY, secret_key=APP_SECRET)
    ci = make_client(proxy, access_key=CI_KEY, secret_key=CI_SECRET)
    assert _describe_error(app) is None
    replace_file(proxy.workdir / "callers.yaml", FAILING_CALLERS[kind], mode=0o600)
    answer = proxy.reload()
    assert answer.status == 400, answer.text
    body = answer.json()
    assert body["result"] == "failed" and body["errors"], body
    # Not listed with the same name, key, secret and identities: revoked.
    assert _describe_error(app)[:2] == (403, "InvalidClientTokenId")
    # Listed the same: kept.
    assert _describe_error(ci) is None
    # Nothing of the failed file is installed: no new caller, no new secret.
    assert _describe_error(make_client(proxy, access_key=OPS_KEY, secret_key=OPS_SECRET))[1] == "InvalidClientTokenId"
    assert _describe_error(make_client(proxy, access_key=APP_KEY, secret_key=NEW_APP_SECRET))[1] == "InvalidClientTokenId"
    [failed] = log_with(proxy, "reload failed")
    assert failed["level"] == "error"
    assert failed["removed_callers"] == ["app-payments"]
    assert proxy.metrics().value("policy_reloads_total", result="failure") == 1
    output = proxy.stderr() + proxy.audit_text() + answer.text
    assert not [s for s in [*SECRETS, NEW_APP_SECRET] if s in output]


def test_a_callers_file_that_is_gone_revokes_everyone(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=CALLER_POLICY, callers=CALLERS, admin=True, watch_interval="0s")
    app = make_client(proxy, access_key=APP_KEY, secret_key=APP_SECRET)
    ci = make_client(proxy, access_key=CI_KEY, secret_key=CI_SECRET)
    assert _describe_error(ci) is None
    (proxy.workdir / "callers.yaml").unlink()
    answer = proxy.reload()
    assert answer.status == 400, answer.text
    assert answer.json()["result"] == "failed"
    assert _describe_error(app)[:2] == (403, "InvalidClientTokenId")
    assert _describe_error(ci)[:2] == (403, "InvalidClientTokenId")
    [failed] = log_with(proxy, "reload failed")
    assert sorted(failed["removed_callers"]) == ["app-payments", "ci-deployer"]
    # Put back, the callers are known again.
    (proxy.workdir / "callers.yaml").write_text(CALLERS)
    (proxy.workdir / "callers.yaml").chmod(0o600)
    assert proxy.reload().status == 200
    assert _describe_error(ci) is None and _describe_error(app) is None


# ==== 4. the callers file belongs to the proxy's user or root ===============================
OTHER_UID = 12345


def _refused_config(tmp_path: Path) -> Path:
    folder = tmp_path / "etc"
    folder.mkdir()
    folder.chmod(0o755)
    return write_config(
        folder, listen_port=free_port(), endpoint="http://127.0.0.1:9", policy=CALLER_POLICY, callers=CALLERS
    )


def _assert_refused(done: subprocess.CompletedProcess, *wording: str) -> None:
    assert done.returncode == 1, f"exit {done.returncode}; stderr:\n{done.stderr}"
    for words in wording:
        assert words in done.stderr, done.stderr
    assert not [s for s in SECRETS if s in done.stderr + done.stdout]


def test_callers_file_of_another_user_is_refused(tmp_path):
    config = _refused_config(tmp_path)
    callers = config.parent / "callers.yaml"
    os.chown(callers, OTHER_UID, OTHER_UID)
    assert callers.stat().st_mode & 0o777 == 0o600
    done = serve_once(config)
    _assert_refused(done, "belongs to another user than the proxy's or root", "chown")


def test_callers_file_in_a_folder_others_can_write_is_refused(tmp_path):
    config = _refused_config(tmp_path)
    config.parent.chmod(0o777)
    _assert_refused(serve_once(config), "can be written by other users")


def test_callers_file_in_a_folder_of_another_user_is_refused(tmp_path):
    config = _refused_config(tmp_path)
    os.chown(config.parent, OTHER_UID, OTHER_UID)
    _assert_refused(serve_once(config), "belongs to another user than the proxy's or root")


def test_callers_file_in_a_sticky_folder_is_accepted(start_proxy, make_client, upstream):
    # Like /tmp: others can write the folder but not replace our file.
    proxy = start_proxy(policy=CALLER_POLICY, callers=CALLERS, prepare=lambda workdir: workdir.chmod(0o1777))
    assert proxy.workdir.stat().st_mode & 0o7777 == 0o1777
    assert _describe_error(make_client(proxy, access_key=CI_KEY, secret_key=CI_SECRET)) is None


def test_a_refused_callers_file_installs_nothing_on_reload(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=CALLER_POLICY, callers=CALLERS, admin=True, watch_interval="0s")
    callers = proxy.workdir / "callers.yaml"
    app = make_client(proxy, access_key=APP_KEY, secret_key=APP_SECRET)
    ci = make_client(proxy, access_key=CI_KEY, secret_key=CI_SECRET)
    ops = make_client(proxy, access_key=OPS_KEY, secret_key=OPS_SECRET)
    # Same content, another owner: refused, every caller stays.
    os.chown(callers, OTHER_UID, OTHER_UID)
    answer = proxy.reload()
    assert answer.status == 400, answer.text
    assert answer.json()["result"] == "failed"
    assert any("belongs to another user than the proxy's or root" in e for e in answer.json()["errors"]), answer.text
    assert _describe_error(ci) is None and _describe_error(app) is None
    # A refused file that adds a caller does not add it; the ones it still lists stay.
    callers.write_text("callers:\n" + CI_ENTRY + OPS_ENTRY)
    os.chown(callers, OTHER_UID, OTHER_UID)
    callers.chmod(0o600)
    assert proxy.reload().status == 400
    assert _describe_error(ci) is None
    assert _describe_error(ops)[1] == "InvalidClientTokenId"
    # (Security-minded reading: whom even a refused file no longer lists is revoked.)
    assert _describe_error(app)[1] == "InvalidClientTokenId"
    assert not [s for s in SECRETS if s in proxy.stderr()]


# ==== 5. audit volume before authentication is bounded ======================================
LONG = 60000


def _audit_lines(proxy) -> list[str]:
    return [line for line in proxy.audit_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "who, field, code",
    [
        ("unknown-key", "cache_security_group", "InvalidClientTokenId"),
        ("wrong-secret", "ec2_security_group", "SignatureDoesNotMatch"),
        ("denied", "cache_security_group", "InvalidParameterCombination"),
    ],
)
def test_audit_values_of_requests_not_forwarded_are_cut(start_proxy, make_client, upstream, who, field, code):
    proxy = start_proxy(policy=CALLER_POLICY, callers=CALLERS, admin=True)
    key, secret = {
        "unknown-key": ("AKIDNOBODY0000000001", CI_SECRET),
        "wrong-secret": (CI_KEY, "not/the+right/secret/0123456789abcdef"),
        "denied": (CI_KEY, CI_SECRET),
    }[who]
    # `x…` matches no `prod-…` allow rule: the known caller is denied.
    cache = "x" * LONG if field == "cache_security_group" else "prod-web"
    ec2 = "app-" + "b" * (LONG - 4) if field == "ec2_security_group" else "app-frontend"
    client = make_client(proxy, access_key=key, secret_key=secret)
    status, got, _ = call_error(lambda: ingress(client, cache, ec2))
    assert got == code
    assert status == (400 if who == "denied" else 403)
    assert upstream.requests == []
    [raw] = _audit_lines(proxy)
    # The explanation of a denial takes up to 2 KiB more.
    assert len(raw.encode()) < (4096 if who == "denied" else 2048), f"audit line of {len(raw)} bytes"
    line = json.loads(raw)
    sent = {"cache_security_group": cache, "ec2_security_group": ec2}
    assert line[field] == sent[field][:256]
    assert line["shortened"] == {field: LONG}
    m = proxy.metrics()
    assert m.value("audit_values_shortened_total", field=field) == 1
    other = "ec2_security_group" if field == "cache_security_group" else "cache_security_group"
    assert m.value("audit_values_shortened_total", field=other) == 0


def test_audit_values_of_a_forwarded_request_are_written_in_full(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=CALLER_POLICY, callers=CALLERS, admin=True)
    client = make_client(proxy, access_key=CI_KEY, secret_key=CI_SECRET)
    group = "prod-" + "a" * 1995
    ingress(client, group)
    [record] = upstream.requests
    assert record.params["CacheSecurityGroupName"] == group
    [line] = proxy.audit_records()
    assert (line["decision"], line["cache_security_group"], line["shortened"]) == ("allow", group, None)
    assert line["explanation"] is None
    assert proxy.metrics().total("audit_values_shortened_total") == 0


# ==== 6. certificate_only callers need not sign ==============================================
MTLS_CALLERS = "callers:\n" + APP_ENTRY + BATCH_ENTRY
DESCRIBE_POLICY = """\
rules:
  - id: describe-for-everyone
    effect: allow
    actions: ["Describe*"]
"""
DESCRIBE_BODY = form_encode([("Action", "DescribeCacheClusters"), ("Version", API_VERSION)])


@pytest.fixture
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = TestCA(folder)
    return {
        "ca": ca,
        "server": ca.server(),
        "app": ca.client("app", uri=APP_IDENTITY),
        "batch": ca.client("batch", dns=BATCH_IDENTITY),
    }


def _mtls(pki) -> dict[str, str]:
    return {"cert": str(pki["server"].cert), "key": str(pki["server"].key), "client_ca": str(pki["ca"].pem)}


def unsigned_client(proxy, pki, cert_name: str, region: str = "us-east-1"):
    """boto3 that sends no signature at all, with a client certificate."""
    cert = pki[cert_name]
    return aws.client(
        "elasticache",
        region_name=region,
        endpoint_url=proxy.url,
        verify=str(pki["ca"].pem),
        config=botocore.config.Config(
            signature_version=botocore.UNSIGNED,
            client_cert=(str(cert.cert), str(cert.key)),
            retries={"total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=15,
        ),
    )


def send_tls(proxy, pki, cert_name: str, body: str, host: str) -> RawResponse:
    """One unsigned HTTPS POST with a client certificate and this Host header."""
    cert = pki[cert_name]
    context = ssl.create_default_context(cafile=str(pki["ca"].pem))
    context.load_cert_chain(str(cert.cert), str(cert.key))
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context, timeout=10)
    try:
        conn.request(
            "POST",
            "/",
            body=body.encode(),
            headers={"Host": host, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        answer = conn.getresponse()
        return RawResponse(answer.status, answer.msg, answer.read())
    finally:
        conn.close()


def test_unsigned_request_of_a_certificate_only_caller_is_served(start_proxy, make_client, upstream, pki):
    proxy = start_proxy(policy=DESCRIBE_POLICY, callers=MTLS_CALLERS, tls=_mtls(pki), region="eu-west-1")
    # No signature, no Host naming a region: the configured region.
    unsigned_client(proxy, pki, "batch").describe_cache_clusters()
    # Host `elasticache.REGION.amazonaws.com` names the region.
    answer = send_tls(proxy, pki, "batch", DESCRIBE_BODY, "elasticache.ap-southeast-2.amazonaws.com")
    assert answer.status == 200, answer.body
    # Signed (with keys the proxy does not know): the signature's scope.
    signed = make_client(
        proxy,
        region="us-west-2",
        access_key="AKIDWHATEVER00000001",
        secret_key="x" * 40,
        verify=str(pki["ca"].pem),
        client_cert=(str(pki["batch"].cert), str(pki["batch"].key)),
    )
    signed.describe_cache_clusters()
    regions = ["eu-west-1", "ap-southeast-2", "us-west-2"]
    records = upstream.requests
    assert [r.region for r in records] == regions
    assert all(r.signature_ok for r in records), [r.signature_problems for r in records]
    lines = proxy.audit_records()
    assert [(l["caller"], l["auth"], l["decision"], l["region"]) for l in lines] == [
        ("batch", "client_certificate", "allow", region) for region in regions
    ]


def test_unsigned_request_that_names_no_region(start_proxy, upstream, pki):
    proxy = start_proxy(policy=DESCRIBE_POLICY, callers=MTLS_CALLERS, tls=_mtls(pki))
    client = unsigned_client(proxy, pki, "batch")
    status, code, message = call_error(client.describe_cache_clusters)
    assert (status, code) == (400, "MissingParameter")
    assert "set `region` in its config" in message, message
    assert upstream.requests == []
    # The Host still names one, without `region` in the config.
    answer = send_tls(proxy, pki, "batch", DESCRIBE_BODY, "elasticache.eu-central-1.amazonaws.com")
    assert answer.status == 200, answer.body
    assert [r.region for r in upstream.requests] == ["eu-central-1"]


def test_unsigned_request_of_a_caller_that_must_sign(start_proxy, upstream, pki):
    proxy = start_proxy(policy=DESCRIBE_POLICY, callers=MTLS_CALLERS, tls=_mtls(pki), region="eu-west-1")
    # app-payments' certificate is verified, but it is not certificate_only.
    status, code, _ = call_error(unsigned_client(proxy, pki, "app").describe_cache_clusters)
    assert (status, code) == (403, "MissingAuthenticationToken")
    answer = send_tls(proxy, pki, "app", DESCRIBE_BODY, "elasticache.eu-west-1.amazonaws.com")
    assert_api_error(answer, 403, "MissingAuthenticationToken")
    assert upstream.requests == []
    [first, second] = proxy.audit_records()
    assert first["error_code"] == second["error_code"] == "MissingAuthenticationToken"


def test_unsigned_request_without_a_certificate(start_proxy, upstream):
    proxy = start_proxy(policy=DESCRIBE_POLICY, callers=MTLS_CALLERS, region="eu-west-1")
    answer = send_raw(proxy.port, body=DESCRIBE_BODY, authorization=None, amz_date=None)
    assert_api_error(answer, 403, "MissingAuthenticationToken")
    assert upstream.requests == []


# ==== 7. a denial tells the caller only what concerns the caller =============================
# The shared test policy, whose deny rule says why.
DETAIL_POLICY = TEST_POLICY.replace(
    'cache_security_groups: ["prod-legacy"]\n',
    'cache_security_groups: ["prod-legacy"]\n    message: "the legacy group is frozen"\n',
)
NO_RULE_ALLOWS = (
    "not allowed by policy: no rule allows AuthorizeCacheSecurityGroupIngress "
    f"by caller `{TRUSTED_CALLER}` in region `us-west-2`"
)
NEAR_MISS = "rule `prod-app-ingress`: region `us-west-2` is not one of its regions"


def test_a_denied_caller_is_told_only_what_concerns_it(start_proxy, make_client, run_aws, upstream):
    proxy = start_proxy(policy=DETAIL_POLICY)
    west = make_client(proxy, region="us-west-2")
    with pytest.raises(west.exceptions.InvalidParameterCombinationException) as raised:
        west.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    assert client_error(raised)[2] == NO_RULE_ALLOWS
    # A deny rule that decided is named, with its message.
    east = make_client(proxy)
    with pytest.raises(east.exceptions.InvalidParameterCombinationException) as raised:
        east.authorize_cache_security_group_ingress(**{**ALLOWED_INGRESS, "CacheSecurityGroupName": "prod-legacy"})
    assert client_error(raised)[2] == (
        "denied by policy rule `no-legacy-group` for AuthorizeCacheSecurityGroupIngress "
        f"by caller `{TRUSTED_CALLER}` in region `us-east-1`: the legacy group is frozen"
    )
    east.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    # The aws CLI shows the same caller-level message.
    done = run_aws(
        proxy,
        "authorize-cache-security-group-ingress",
        "--cache-security-group-name", "prod-web",
        "--ec2-security-group-name", "app-frontend",
        "--ec2-security-group-owner-id", OWNER,
        region="us-west-2",
    )
    assert done.returncode != 0
    assert NO_RULE_ALLOWS in done.stderr and "prod-app-ingress" not in done.stderr, done.stderr
    # The audit line has the full explanation; an allowed request none.
    west_line, legacy_line, allowed_line, cli_line = proxy.audit_records()
    assert west_line["explanation"].startswith(NO_RULE_ALLOWS) and NEAR_MISS in west_line["explanation"]
    assert cli_line["explanation"] == west_line["explanation"]
    assert legacy_line["explanation"].startswith("denied by policy rule `no-legacy-group`")
    assert (allowed_line["decision"], allowed_line["explanation"]) == ("allow", None)
    assert len(upstream.requests) == 1


def test_denial_detail_full_tells_the_near_misses(start_proxy, make_client, upstream):
    proxy = start_proxy(policy=DETAIL_POLICY, denial_detail="full")
    west = make_client(proxy, region="us-west-2")
    with pytest.raises(west.exceptions.InvalidParameterCombinationException) as raised:
        west.authorize_cache_security_group_ingress(**ALLOWED_INGRESS)
    message = client_error(raised)[2]
    assert message.startswith(NO_RULE_ALLOWS) and NEAR_MISS in message, message
    [line] = proxy.audit_records()
    assert line["explanation"] == message


def _explain_xml_message(stdout: str) -> str:
    [xml] = [line for line in stdout.splitlines() if line.startswith("<ErrorResponse")]
    return parse_error_xml(xml.encode()).message


def test_explain_shows_why_in_full_and_the_callers_message(tmp_path):
    (tmp_path / "p.yaml").write_text(DETAIL_POLICY)
    request = form_encode(ingress_pairs())
    args = ["explain", "--policy", "p.yaml", "--region", "us-west-2", "--caller", TRUSTED_CALLER, request]
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("decision: deny\n"), done.stdout
    [why] = [line for line in done.stdout.splitlines() if line.startswith("why: ")]
    assert why.startswith("why: " + NO_RULE_ALLOWS) and NEAR_MISS in why, done.stdout
    assert _explain_xml_message(done.stdout) == NO_RULE_ALLOWS
    full = run_cli(*args[:-1], "--denial-detail", "full", request, cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    message = _explain_xml_message(full.stdout)
    assert message.startswith(NO_RULE_ALLOWS) and NEAR_MISS in message, full.stdout
