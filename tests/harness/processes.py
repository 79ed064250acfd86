"""Where the proxy binary is, free ports, child processes, and waiting on a
condition instead of sleeping."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROXY_BIN = Path(os.environ.get("PROXY_BIN") or REPO / "target" / "debug" / "elasticache-authz-proxy")
READY_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(argv: list[str], stdout_path: Path, stderr_path: Path | None, **popen) -> subprocess.Popen:
    """Starts a child server with no stdin, its stdout in `stdout_path` and
    its stderr in `stderr_path` (None: in stdout too). `popen` are the
    other arguments of subprocess.Popen (env, cwd, user, ...)."""
    with open(stdout_path, "wb") as out:
        if stderr_path is None:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, **popen)
        with open(stderr_path, "wb") as err:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, **popen)


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Stops a child server: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def poll(predicate, timeout: float, interval: float = 0.05):
    """Calls `predicate` until it returns a truthy value, which it returns,
    or until `timeout` seconds have passed (then None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def wait_for(predicate, timeout: float = 5.0, what: str = "the condition", interval: float = 0.05):
    """Polls `predicate` until it returns a truthy value, which it returns;
    fails the test after `timeout` seconds."""
    value = poll(predicate, timeout, interval)
    if not value:
        pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
    return value


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until_listening(
    proc: subprocess.Popen, port: int, stderr_path: Path, name: str = "proxy", timeout: float = READY_TIMEOUT
) -> None:
    """Waits until the proxy (or the server `name`) accepts connections on
    `port` (call it once per listener); fails the test if it exits or takes
    too long."""
    def state() -> str | None:
        if proc.poll() is not None:
            return "exited"
        return "listening" if listening(port) else None

    # The debug proxy listens 10 to 20 ms after it starts: polling every
    # 50 ms cost most tests 30 to 40 ms for each proxy they start.
    found = poll(state, timeout, interval=0.01)
    if found == "exited":
        pytest.fail(
            f"{name} exited with {proc.returncode} before listening; stderr:\n"
            + stderr_path.read_text(errors="replace"),
            pytrace=False,
        )
    if found is None:
        proc.kill()
        proc.wait()
        pytest.fail(
            f"{name} did not listen on 127.0.0.1:{port} within {timeout}s; stderr:\n"
            + stderr_path.read_text(errors="replace"),
            pytrace=False,
        )
