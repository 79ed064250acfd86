"""Every shipped config runs: the real proxy is started on the image's default
config, on each Kubernetes ConfigMap (with the Secret volumes laid out as the
kubelet writes them, as the pod's user) and on the systemd config (with the
callers file where LoadCredential= puts it), with only its addresses made
local. It must become ready, answer its probes, decide as its policy says,
reload, and stop cleanly on SIGTERM within shutdown_grace."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from . import deploy_support
from .deploy_support import (
    DEFAULT_SHUTDOWN_GRACE,
    REPO,
    SHIPPED_CONFIGS,
    layout_kubernetes,
    parse_duration,
    run_shipped_config,
    workload,
)

@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_shipped_config_starts_and_answers_its_probes(name, proxy_runs):
    run = proxy_runs(name)
    assert run.ready, f"{name}: the proxy never became ready (ran as {run.ran_as})\n{run.log()}"
    assert run.answers["healthz"].status == 200, run.log()
    assert run.answers["readyz"].status == 200, run.log()


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_shipped_policy_decides_as_documented(name, proxy_runs):
    """A read in us-east-1 is allowed (and fails upstream, a closed port here);
    an ingress change to a payments group is denied; with a callers file, an
    unsigned request is refused."""
    run = proxy_runs(name)
    assert run.ready, run.log()
    allowed, denied = run.answers["allowed"], run.answers["denied"]
    assert allowed.status == 503 and "<Code>ServiceUnavailable</Code>" in allowed.body, (allowed, run.log())
    assert denied.status == 400 and "<Code>InvalidParameterCombination</Code>" in denied.body, (denied, run.log())
    decisions = [(line["action"], line["decision"]) for line in run.audit]
    assert ("DescribeCacheClusters", "allow") in decisions
    assert ("AuthorizeCacheSecurityGroupIngress", "deny") in decisions
    if run.callers:
        assert run.answers["unsigned"].status == 403
        assert "<Code>MissingAuthenticationToken</Code>" in run.answers["unsigned"].body
        assert {line["caller"] for line in run.audit if line["decision"] != "error"} == {run.callers[0]["name"]}
    # audit_log "-": stdout carries only audit lines, one JSON object each,
    # so a log collector can tell them from the operational log on stderr.
    assert len(run.audit) == len(run.stdout.splitlines()) == len(run.answers) - 3, run.log()


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_shipped_config_reloads_and_stops_cleanly(name, proxy_runs):
    run = proxy_runs(name)
    assert run.ready, run.log()
    assert run.answers["reload"].status == 200 and '"reloaded"' in run.answers["reload"].body, run.log()
    grace = parse_duration(run.config.get("shutdown_grace", f"{int(DEFAULT_SHUTDOWN_GRACE)}s"))
    assert run.exit_code == 0, f"{name}: exit code {run.exit_code} after SIGTERM\n{run.log()}"
    assert run.stop_seconds < grace, f"{name}: took {run.stop_seconds:.1f}s to stop"
    # Secrets never reach the logs.
    for caller in run.callers:
        assert caller["secret_access_key"] not in run.stdout + run.stderr


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_shipped_config_serves_metrics(name, proxy_runs):
    run = proxy_runs(name)
    assert run.ready, run.log()
    assert "# TYPE elasticache_authz_proxy_requests_total counter" in run.metrics
    assert "elasticache_authz_proxy_policy_info{revision=" in run.metrics


@pytest.mark.parametrize("deployment", ["sidecar", "central"])
def test_shipped_policies_pass_check(deployment, proxy_bin, tmp_path):
    """The policy in each ConfigMap passes `check --deny-warnings` against a
    callers file with the names it uses."""
    w = workload(deployment)
    layout, _, callers_text = layout_kubernetes(deployment, tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(w.config_map["data"][Path(w.config["policy"]).name])
    callers = tmp_path / "callers.yaml"
    callers.write_text(callers_text)
    callers.chmod(0o600)
    result = subprocess.run([str(proxy_bin), "check", "--deny-warnings", "--policy", str(policy),
                             "--callers", str(callers)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files away, as the kubelet does")
def test_a_world_readable_callers_secret_is_refused(runnable_proxy_bin, monkeypatch):
    """The control for the Secret runs above: with defaultMode 0444 the same
    layout must be refused, or those runs proved nothing about the mode."""
    original = deploy_support.workload

    def world_readable(deployment):
        w = original(deployment)
        for volume in w.pod["volumes"]:
            if "secret" in volume:
                volume["secret"]["defaultMode"] = 0o444
        return w

    monkeypatch.setattr(deploy_support, "workload", world_readable)
    root = Path(tempfile.mkdtemp(prefix="deploy-0444-"))
    root.chmod(0o755)
    try:
        run = run_shipped_config("sidecar", root, runnable_proxy_bin)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert not run.ready and run.exit_code not in (0, None), run.log()
    assert "callers file" in run.stderr and "444" in run.stderr, run.log()


def test_image_default_config_uses_a_shipped_policy():
    config = yaml.safe_load((REPO / "deploy" / "docker" / "proxy.yaml").read_text())
    assert config["policy"].startswith("/usr/share/elasticache-authz-proxy/policies/")
    assert (REPO / "policies" / Path(config["policy"]).name).is_file()
