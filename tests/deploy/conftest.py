"""Fixtures of the deployment tests: the real proxy started once on each
shipped config (the image's default, the Kubernetes ConfigMaps, the systemd
config), its answers and its /metrics."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from harness.metrics import Metrics, merge_families

from .deploy_support import PROXY_BIN, SHIPPED_CONFIGS, run_shipped_config


@pytest.fixture(scope="session")
def proxy_bin() -> Path:
    if not PROXY_BIN.is_file():
        pytest.fail(f"no proxy binary at {PROXY_BIN}: run `cargo build` or set PROXY_BIN")
    return PROXY_BIN


def _others_may_run(path: Path) -> bool:
    """Whether a user other than the owner can execute `path`."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.resolve().parents])


@pytest.fixture(scope="session")
def runnable_proxy_bin(proxy_bin):
    """The binary, where the deployments' own users can run it."""
    if os.geteuid() != 0 or _others_may_run(proxy_bin):
        yield proxy_bin
        return
    folder = Path(tempfile.mkdtemp(prefix="deploy-bin-"))
    folder.chmod(0o755)
    try:
        yield Path(shutil.copy(proxy_bin, folder / proxy_bin.name))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def proxy_runs(runnable_proxy_bin):
    """name -> ProxyRun, each config started once for the whole session."""
    runs, roots = {}, []

    def get(name: str):
        if name not in runs:
            # Not under pytest's 0700 temp folder: the proxy may run as the
            # deployment's non-root user and must reach its files.
            root = Path(tempfile.mkdtemp(prefix=f"deploy-{name}-"))
            root.chmod(0o755)
            roots.append(root)
            runs[name] = run_shipped_config(name, root, runnable_proxy_bin)
        return runs[name]

    yield get
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def exposed_metrics(proxy_runs):
    """Every metric family the proxy exposed in any of the runs, with the
    label names and values seen."""
    return merge_families([Metrics.parse(proxy_runs(name).metrics).families() for name in SHIPPED_CONFIGS])


@pytest.fixture
def no_network(monkeypatch):
    """Fails any attempt to reach the network: the validators must work offline."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
