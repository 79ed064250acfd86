"""Fixtures of the end-to-end suite: the fake ElastiCache upstream, the proxy
process, boto3 clients and the aws CLI, all on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import botocore.config
import pytest

from fake_upstream import FakeElastiCache
from harness import aws
from harness.metrics import Metrics
from harness.processes import PROXY_BIN, REPO, free_port, spawn, stop_process, wait_until_listening
from moto_upstream import MotoServer
from support import (
    CALLER_ACCESS_KEY,
    CALLER_SECRET_KEY,
    PROXY_ACCESS_KEY,
    PROXY_SECRET_KEY,
    TEST_POLICY,
    json_lines,
)

# Environment variables that would change how boto3, the CLI or urllib behave.
_LEAKY_ENV_PREFIXES = ("AWS_", "BOTO_")
_LEAKY_ENV_NAMES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def _is_leaky(name: str) -> bool:
    return name.upper().startswith(_LEAKY_ENV_PREFIXES) or name.lower() in _LEAKY_ENV_NAMES


@pytest.fixture(scope="session", autouse=True)
def clean_aws_environment(tmp_path_factory):
    """No AWS profile, region, endpoint, CA bundle or HTTP proxy of the
    machine may reach boto3 in this process."""
    home = tmp_path_factory.mktemp("aws-home")
    (home / "config").write_text("")
    (home / "credentials").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if _is_leaky(name):
                mp.delenv(name)
        mp.setenv("AWS_CONFIG_FILE", str(home / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield home


# ---- reporting: show the proxy's log when a test fails ----------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _test_failed(request) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


# ---- the fake upstream -------------------------------------------------------
@pytest.fixture
def upstream():
    """A fresh fake ElastiCache for each test (so its records start empty)."""
    with FakeElastiCache(PROXY_ACCESS_KEY, PROXY_SECRET_KEY) as fake:
        yield fake


# ---- moto: a local ElastiCache that keeps state -------------------------------
@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """moto's server, started once per session (it takes seconds)."""
    server = MotoServer(free_port(), tmp_path_factory.mktemp("moto") / "moto.log")
    wait_until_listening(server.start(), server.port, server.log_path, name="moto", timeout=60)
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server, request) -> MotoServer:
    """moto emptied for this test, holding the proxy's IAM identity
    (`moto.credentials`) and checking every request's signature."""
    moto_server.reset()
    yield moto_server
    if _test_failed(request):
        sys.stderr.write(f"\n--- moto's log (its end):\n{moto_server.log()[-6000:]}\n")


# ---- the proxy ---------------------------------------------------------------
# urllib without any HTTP proxy of the machine.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _lower(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@dataclass
class AdminResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)


@dataclass
class ProxyProcess:
    proc: subprocess.Popen
    port: int
    workdir: Path
    config_path: Path
    stdout_path: Path
    stderr_path: Path
    https: bool = False
    admin_port: int | None = None
    audit_path: Path | None = None  # None: the audit log is stdout

    @property
    def url(self) -> str:
        scheme = "https" if self.https else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        assert self.admin_port is not None, "this proxy was started without admin=True"
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def policy_path(self) -> Path:
        return self.workdir / "policy.yaml"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log_records(self) -> list[dict]:
        """The JSON lines of the proxy's operational log (stderr)."""
        return json_lines(self.stderr())

    def audit_text(self) -> str:
        path = self.audit_path or self.stdout_path
        assert not path.is_char_device(), f"the audit log is {path}: nothing to read back"
        return path.read_text(errors="replace")

    def audit_records(self) -> list[dict]:
        """The JSON lines of the audit log: stdout, or the configured file."""
        return json_lines(self.audit_text())

    # ---- the admin listener ----
    def admin(self, path: str, method: str = "GET", timeout: float = 10) -> AdminResponse:
        """One request to the admin listener; HTTP errors are answers too."""
        request = urllib.request.Request(self.admin_url + path, method=method, data=b"" if method == "POST" else None)
        try:
            with _DIRECT.open(request, timeout=timeout) as answer:
                return AdminResponse(answer.status, _lower(answer.headers), answer.read())
        except urllib.error.HTTPError as err:
            return AdminResponse(err.code, _lower(err.headers), err.read())

    def metrics(self) -> Metrics:
        """Scrapes /metrics and parses the Prometheus text format."""
        answer = self.admin("/metrics")
        assert answer.status == 200, f"/metrics answered {answer.status}: {answer.text[:2000]}"
        content_type = answer.headers.get("content-type", "")
        assert content_type.startswith("text/plain"), f"/metrics Content-Type {content_type!r}"
        return Metrics.parse(answer.text)

    def reload(self) -> AdminResponse:
        return self.admin("/reload", method="POST")

    def signal(self, signum: int = signal.SIGHUP) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> None:
        stop_process(self.proc)


def proxy_env(**extra: str) -> dict[str, str]:
    """The proxy's environment: PATH and its own upstream credentials only."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": PROXY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": PROXY_SECRET_KEY,
        # Nothing may leave loopback: no instance metadata probes.
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(extra)
    return env


def upstream_credentials(credentials: tuple[str, str] | None) -> dict[str, str]:
    """The environment that gives the proxy these upstream keys, if any."""
    if credentials is None:
        return {}
    return {"AWS_ACCESS_KEY_ID": credentials[0], "AWS_SECRET_ACCESS_KEY": credentials[1]}


TRUSTED_CALLER = "local-test"


def write_config(
    workdir: Path,
    *,
    listen_port: int,
    endpoint: str,
    policy: str,
    timeout: str = "2s",
    max_body_bytes: int = 65536,
    callers: str | None = None,
    tls: dict[str, str] | None = None,
    admin_port: int | None = None,
    mode: str | None = None,
    audit_log: str | None = None,
    audit_failure: str | None = None,
    watch_interval: str | None = None,
    watch_settle: str | None = None,
    region: str | None = None,
    denial_detail: str | None = None,
    shutdown_grace: str | None = None,
    idle_timeout: str | None = None,
    max_concurrent_requests: int | None = None,
    limits: dict[str, object] | None = None,
    extra: str = "",
) -> Path:
    """Writes proxy.yaml and policy.yaml. Without `callers` (the text of a
    callers file) the proxy runs as a loopback sidecar that trusts every
    request as the caller `local-test`; with it, every request is
    authenticated. `tls` holds the cert/key/client_ca paths. Options left
    at None are not written (the proxy's defaults apply); `limits` adds
    other `limits:` keys and `extra` is raw top-level YAML."""
    (workdir / "policy.yaml").write_text(policy)
    if callers is None:
        caller_lines = f"callers: none\ntrusted_caller: {TRUSTED_CALLER}\n"
    else:
        callers_path = workdir / "callers.yaml"
        callers_path.write_text(callers)
        callers_path.chmod(0o600)
        caller_lines = 'callers: "callers.yaml"\n'
    tls_lines = ""
    if tls:
        tls_lines = "tls:\n" + "".join(f'  {key}: "{value}"\n' for key, value in tls.items())
    top = {
        "admin_listen": f"127.0.0.1:{admin_port}" if admin_port is not None else None,
        "mode": mode,
        "audit_log": audit_log,
        "audit_failure": audit_failure,
        "watch_interval": watch_interval,
        "watch_settle": watch_settle,
        "region": region,
        "denial_detail": denial_detail,
        "shutdown_grace": shutdown_grace,
    }
    top_lines = "".join(f"{key}: {json.dumps(value)}\n" for key, value in top.items() if value is not None)
    limit_values = {
        "max_body_bytes": max_body_bytes,
        "idle_timeout": idle_timeout,
        "max_concurrent_requests": max_concurrent_requests,
        **(limits or {}),
    }
    limit_lines = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in limit_values.items() if value is not None)
    config = workdir / "proxy.yaml"
    config.write_text(
        f'listen: "127.0.0.1:{listen_port}"\n'
        'policy: "policy.yaml"\n'
        + caller_lines
        + tls_lines
        + top_lines
        + "upstream:\n"
        f'  endpoint: "{endpoint}"\n'
        f'  timeout: "{timeout}"\n'
        "limits:\n"
        + limit_lines
        + extra
    )
    return config


def require_proxy_binary() -> Path:
    if not PROXY_BIN.is_file():
        pytest.fail(
            f"proxy binary {PROXY_BIN} does not exist: run `cargo build` in {REPO} "
            "or set PROXY_BIN",
            pytrace=False,
        )
    return PROXY_BIN


def serve_once(config: Path) -> subprocess.CompletedProcess:
    """Runs `serve` on a config it is expected to refuse (bounded by a
    timeout); returns the finished process with its output."""
    return subprocess.run(
        [str(require_proxy_binary()), "serve", "--config", str(config)],
        env=proxy_env(),
        capture_output=True,
        text=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def start_proxy(tmp_path, upstream, request):
    """Factory: start_proxy(policy=..., endpoint=..., timeout=..., admin=True,
    mode=..., audit_log=..., ...) writes the config and policy to a fresh
    folder, starts the proxy, waits until it listens (on the admin port too
    with admin=True) and returns a ProxyProcess. Every proxy it started is
    stopped at teardown; a failing test shows the proxy's log."""
    started: list[ProxyProcess] = []

    def start(
        policy: str = TEST_POLICY,
        endpoint: str | None = None,
        admin: bool = False,
        prepare=None,
        credentials: tuple[str, str] | None = None,
        **options,
    ) -> ProxyProcess:
        """`options` are the other keyword arguments of write_config
        (`callers`, `tls`, `audit_log`, `timeout`, `limits`, ...), with its
        defaults. `prepare(workdir)`, if given, runs once the files are
        written and before the proxy starts (to lay them out as symlinks,
        say). `credentials` (access key, secret key) replace the proxy's
        own upstream identity."""
        binary = require_proxy_binary()
        workdir = tmp_path / f"proxy{len(started)}"
        workdir.mkdir()
        port = free_port()
        admin_port = free_port() if admin else None
        endpoint = endpoint or upstream.endpoint
        config = write_config(
            workdir, listen_port=port, endpoint=endpoint, policy=policy, admin_port=admin_port, **options
        )
        if prepare is not None:
            prepare(workdir)
        audit_log = options.get("audit_log")
        audit_path = None if audit_log in (None, "-") else workdir / audit_log
        stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
        proc = spawn(
            [str(binary), "serve", "--config", str(config)],
            stdout_path,
            stderr_path,
            env=proxy_env(**upstream_credentials(credentials)),
            cwd=workdir,
        )
        proxy = ProxyProcess(
            proc,
            port,
            workdir,
            config,
            stdout_path,
            stderr_path,
            https=bool(options.get("tls")),
            admin_port=admin_port,
            audit_path=audit_path,
        )
        started.append(proxy)
        wait_until_listening(proc, port, stderr_path)
        if admin_port is not None:
            wait_until_listening(proc, admin_port, stderr_path)
        return proxy

    yield start

    for proxy in started:
        proxy.stop()
    if _test_failed(request):
        for proxy in started:
            sys.stderr.write(
                f"\n--- proxy on port {proxy.port} exited {proxy.proc.returncode}; its stderr:\n"
                f"{proxy.stderr()[-8000:]}\n"
            )
            if proxy.audit_path is None:  # a file is left in the test's folder
                sys.stderr.write(f"--- its audit log (stdout):\n{proxy.audit_text()[-8000:]}\n")


@pytest.fixture
def proxy(start_proxy) -> ProxyProcess:
    """The proxy with the test policy, in front of this test's fake upstream."""
    return start_proxy()


# ---- callers -------------------------------------------------------------------
@pytest.fixture
def make_client():
    """Factory: make_client(proxy_or_url, region="us-east-1", ...) -> a boto3
    ElastiCache client that talks to the proxy with the caller's keys, no
    retries."""

    def make(
        target,
        region: str = "us-east-1",
        access_key: str = CALLER_ACCESS_KEY,
        secret_key: str = CALLER_SECRET_KEY,
        session_token: str | None = None,
        read_timeout: float = 15,
        verify: str | bool | None = None,
        client_cert: tuple[str, str] | None = None,
    ):
        """`verify` is the CA bundle for an https proxy; `client_cert` a
        (cert, key) pair for mTLS."""
        url = target if isinstance(target, str) else target.url
        return aws.client(
            "elasticache",
            region_name=region,
            endpoint_url=url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            verify=verify,
            config=botocore.config.Config(
                client_cert=client_cert,
                # No retries: exactly one attempt per call. (In botocore,
                # retries={"max_attempts": 1} still allows one retry.)
                retries={"total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=read_timeout,
            ),
        )

    return make


@pytest.fixture
def client(make_client, proxy):
    """A us-east-1 boto3 client for the default proxy."""
    return make_client(proxy)


AWS_CLI = Path(sys.executable).parent / "aws"


@pytest.fixture
def run_aws(tmp_path):
    """Runs `aws elasticache ...` (the CLI installed next to this Python)
    against a proxy with the caller's keys and nothing else from the
    machine's AWS setup. Returns the CompletedProcess."""
    if not AWS_CLI.is_file():
        pytest.fail(f"aws CLI not found at {AWS_CLI}: install tests/e2e/requirements.txt", pytrace=False)
    (tmp_path / "aws-config").write_text("")
    (tmp_path / "aws-credentials").write_text("")

    def run(
        proxy: ProxyProcess,
        *args: str,
        region: str = "us-east-1",
        timeout: float = 60,
        access_key: str = CALLER_ACCESS_KEY,
        secret_key: str = CALLER_SECRET_KEY,
        ca_bundle: str | None = None,
    ):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        }
        cmd = [
            str(AWS_CLI),
            "elasticache",
            *args,
            "--endpoint-url",
            proxy.url,
            "--region",
            region,
            "--output",
            "json",
            *(["--ca-bundle", ca_bundle] if ca_bundle else []),
        ]
        return subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )

    return run
