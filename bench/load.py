#!/usr/bin/env python3
"""Load benchmark: the proxy against nginx as a plain reverse proxy and
against no proxy at all, all in front of the same local upstream, all driven
by the same load tools with the same SigV4-signed ElastiCache requests: the
ingress request, a 30-parameter CreateReplicationGroup, and a mix of both
with Describe calls.

    python3 bench/load.py            # full run (about 15 minutes)
    python3 bench/load.py --quick    # smoke run (about a minute once built)
    python3 bench/load.py --requests create --perf proxy   # profile one request

It installs what it needs (wrk from Debian, oha pinned into bench/.tools,
nginx from Debian), builds the proxy in release mode, starts everything on
127.0.0.1, and prints markdown tables, also written to
bench/results/latest.md. Every run must answer 200 only; anything else
fails the benchmark. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
TOOLS = BENCH / ".tools"
RESULTS = BENCH / "results"
E2E = REPO / "tests" / "e2e"

OHA_VERSION = "1.16.0"
OHA = TOOLS / "bin" / "oha"
# Debian's wrk (4.1.0 in bookworm): light enough to leave the cores to the
# targets, and scriptable for a mix of requests. Its version is recorded.
WRK_PACKAGE = "wrk"
WRK = "wrk"  # on PATH once installed
NGINX_PACKAGES = ("nginx-light", "nginx")  # the first Debian package that exists
PROXY_BIN = REPO / "target" / "release" / "elasticache-authz-proxy"

REGION = "us-east-1"
UPSTREAM_REQUEST_ID = "8f3c2a1e-5b7d-4c9e-a0f1-2d3e4b5c6a7f"
# X-Amz-Date is valid for 5 minutes either way: no run may last longer
# than this after its request was signed.
MAX_RUN_SECONDS = 240

# The proxy's realistic set-up: callers are authenticated by SigV4, the
# policy decides, every request gets an audit line in a file.
CALLER_NAME = "bench-app"
POLICY = f"""\
rules:
  - id: bench-ingress
    effect: allow
    actions: [AuthorizeCacheSecurityGroupIngress]
    callers: [{CALLER_NAME}]
    regions: [{REGION}]
    owner_ids: ["123456781234"]
    cache_security_groups: ["prod-[a-z0-9-]+"]
    ec2_security_groups: ["app-[a-z0-9-]+"]
  - id: describe-anything
    effect: allow
    actions: ["Describe*"]
  - id: no-legacy-group
    effect: deny
    actions: [AuthorizeCacheSecurityGroupIngress]
    cache_security_groups: ["prod-legacy"]
  - id: bench-create
    effect: allow
    actions: [CreateReplicationGroup]
    callers: [{CALLER_NAME}]
    regions: [{REGION}]
    params:
      ReplicationGroupId: {{matches: "orders-[a-z0-9-]+"}}
      SecurityGroupIds: {{all_in: [sg-0a1b2c3d4e5f60001, sg-0a1b2c3d4e5f60002, sg-0a1b2c3d4e5f60003]}}
      PreferredCacheClusterAZs: {{all_in: [{REGION}a, {REGION}b, {REGION}c]}}
      CacheNodeType: {{one_of: [cache.r7g.large, cache.r7g.xlarge]}}
      NumCacheClusters: {{range: [1, 6]}}
      TransitEncryptionEnabled: {{one_of: [true]}}
      AtRestEncryptionEnabled: {{one_of: [true]}}
      KmsKeyId: {{matches: "arn:aws:kms:{REGION}:123456781234:key/.+"}}
      Tags: {{tags: {{team: payments}}}}
  - id: no-small-nodes
    effect: deny
    actions: [CreateReplicationGroup, CreateCacheCluster]
    params:
      CacheNodeType: {{matches: "cache[.]t[0-9][a-z]*[.].+"}}
"""

# The VPC-era request as boto3 writes it: 30 parameters, two security
# groups, two Availability Zones, three tags, booleans, integers and a KMS
# key ARN (about 1 KiB of form).
CREATE_PAIRS = [
    ("Action", "CreateReplicationGroup"),
    ("Version", "2015-02-02"),
    ("ReplicationGroupId", "orders-cache-prod"),
    ("ReplicationGroupDescription", "orders cache for the payments team"),
    ("CacheNodeType", "cache.r7g.large"),
    ("Engine", "redis"),
    ("EngineVersion", "7.1"),
    ("NumCacheClusters", "2"),
    ("AutomaticFailoverEnabled", "true"),
    ("MultiAZEnabled", "true"),
    ("CacheParameterGroupName", "default.redis7"),
    ("CacheSubnetGroupName", "payments-private"),
    ("SecurityGroupIds.SecurityGroupId.1", "sg-0a1b2c3d4e5f60001"),
    ("SecurityGroupIds.SecurityGroupId.2", "sg-0a1b2c3d4e5f60002"),
    ("PreferredCacheClusterAZs.AvailabilityZone.1", f"{REGION}a"),
    ("PreferredCacheClusterAZs.AvailabilityZone.2", f"{REGION}b"),
    ("Tags.Tag.1.Key", "team"),
    ("Tags.Tag.1.Value", "payments"),
    ("Tags.Tag.2.Key", "env"),
    ("Tags.Tag.2.Value", "prod"),
    ("Tags.Tag.3.Key", "cost-center"),
    ("Tags.Tag.3.Value", "cc-4711"),
    ("Port", "6379"),
    ("PreferredMaintenanceWindow", "sun:05:00-sun:06:00"),
    ("SnapshotRetentionLimit", "7"),
    ("SnapshotWindow", "03:00-04:00"),
    ("AutoMinorVersionUpgrade", "true"),
    ("TransitEncryptionEnabled", "true"),
    ("AtRestEncryptionEnabled", "true"),
    ("KmsKeyId", f"arn:aws:kms:{REGION}:123456781234:key/6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"),
    ("NotificationTopicArn", f"arn:aws:sns:{REGION}:123456781234:payments-cache-events"),
    ("NetworkType", "ipv4"),
    ("IpDiscovery", "ipv4"),
]

# Describe calls of the mix: what a control plane polls between changes.
DESCRIBE_PAIRS = [
    [("Action", "DescribeReplicationGroups"), ("Version", "2015-02-02"),
     ("ReplicationGroupId", "orders-cache-prod")],
    [("Action", "DescribeCacheClusters"), ("Version", "2015-02-02"),
     ("ShowCacheNodeInfo", "true"), ("MaxRecords", "50")],
    [("Action", "DescribeCacheSubnetGroups"), ("Version", "2015-02-02"),
     ("CacheSubnetGroupName", "payments-private")],
]

# What each scenario sends, in order, round-robin per connection: a list of
# (name, weight) over the requests signed by `signed_requests`.
SCENARIOS = {
    "ingress": [("ingress", 1)],
    "create": [("create", 1)],
    # Per ten requests: two creates, two ingress calls, six Describes.
    "mix": [("create", 2), ("ingress", 2), ("describe-0", 2), ("describe-1", 2), ("describe-2", 2)],
}
SCENARIO_LABELS = {
    "ingress": "AuthorizeCacheSecurityGroupIngress (4 parameters)",
    "create": "CreateReplicationGroup (30 parameters)",
    "mix": "mix: 2 create, 2 ingress, 6 Describe per 10",
}


class BenchError(Exception):
    """A benchmark that cannot be trusted: stop and say why."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


# ---- what the benchmark needs --------------------------------------------------
def ensure_signing_python() -> None:
    """botocore signs the requests: re-runs this script under the project's
    pinned venv ($VENV, else .venv, created the way scripts/test.sh does)."""
    venv = Path(os.environ.get("VENV") or REPO / ".venv")
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not python.exists():
        log(f"creating the venv {venv} (tests/e2e/requirements.txt, pinned)")
        run([sys.executable, "-m", "venv", str(venv)])
    # Quiet and quick when everything is there already.
    run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(E2E / "requirements.txt")]
    )
    # The script that was run: this one, or bench/ab.py, which imports it.
    os.execv(str(python), [str(python), str(Path(sys.argv[0]).resolve()), *sys.argv[1:]])


def ensure_oha() -> None:
    if OHA.exists():
        version = subprocess.run([str(OHA), "--version"], capture_output=True, text=True).stdout
        if OHA_VERSION in version:
            return
    log(f"installing oha {OHA_VERSION} into {TOOLS} (cargo install --locked; a few minutes)")
    run(
        ["cargo", "install", "oha", "--version", OHA_VERSION, "--locked", "--root", str(TOOLS)],
        cwd=TOOLS.parent,
    )


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def apt_install(*packages: str) -> None:
    """Installs the first of `packages` Debian knows."""
    if os.geteuid() != 0:
        raise BenchError(f"{packages[0]} is not installed and this is not root: `apt-get install {packages[0]}`")
    log(f"installing {packages[0]} from Debian (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
    for package in packages:
        known = subprocess.run(["apt-cache", "show", package], capture_output=True)
        if known.returncode == 0 and known.stdout.strip():
            run(["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
                env=env, stdout=subprocess.DEVNULL)
            return


def ensure_nginx() -> str:
    nginx = find_nginx()
    if nginx:
        return nginx
    apt_install(*NGINX_PACKAGES)
    nginx = find_nginx()
    if not nginx:
        raise BenchError(f"none of {', '.join(NGINX_PACKAGES)} could be installed")
    return nginx


def build_proxy(binary: Path | None, symbols: bool) -> Path:
    if binary:
        return binary
    log("building the proxy (cargo build --release --locked)")
    # Release builds drop the symbol table, which a profile needs.
    env = {**os.environ, "CARGO_PROFILE_RELEASE_STRIP": "none"} if symbols else None
    run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=REPO, env=env)
    return PROXY_BIN


# ---- processes -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """A process the benchmark started, listening on 127.0.0.1:port."""

    name: str
    proc: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def pids(self) -> list[int]:
        """The process and its children (nginx's workers)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                children.append(int(stat.parent.name))
        return [self.proc.pid, *children]

    def status_kib(self, key: str) -> int:
        """A /proc/PID/status figure (VmRSS, VmHWM) summed over pids()."""
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def cpu_seconds(self) -> tuple[float, float]:
        """User and system CPU time so far, summed over pids()."""
        user = system = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            user, system = user + int(fields[11]), system + int(fields[12])  # utime, stime
        tick = os.sysconf("SC_CLK_TCK")
        return user / tick, system / tick

    def wait_listening(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} did not listen on port {self.port}:\n{self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start(name: str, argv: list[str], port: int, workdir: Path, env: dict[str, str] | None = None,
          timeout: float = 20) -> Service:
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=workdir, env=env)
    service = Service(name, proc, port, log_path)
    service.wait_listening(timeout)
    return service


def render_template(template: str, values: dict[str, str]) -> str:
    text = (BENCH / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = re.findall(r"@[A-Z_]+@", text)
    if leftover:
        raise BenchError(f"{template}: placeholders left unfilled: {leftover}")
    return text


def start_nginx(nginx: str, name: str, template: str, workdir: Path, values: dict[str, str]) -> Service:
    port = free_port()
    config = workdir / f"{name}.conf"
    config.write_text(render_template(template, {"DIR": str(workdir), "PORT": str(port), **values}))
    checked = subprocess.run([nginx, "-t", "-q", "-c", str(config), "-e", str(workdir / f"{name}-error.log")],
                             capture_output=True, text=True)
    if checked.returncode != 0:
        raise BenchError(f"nginx rejects {config}: {checked.stderr}")
    return start(name, [nginx, "-c", str(config), "-e", str(workdir / f"{name}-error.log")], port, workdir)


def start_proxy(binary: Path, workdir: Path, upstream: Service, workers: int | None = None,
                wrapper: list[str] | None = None) -> Service:
    """The proxy on a free port; `wrapper` runs it under another program
    (valgrind, for bench/ab.py --instructions)."""
    from conftest import proxy_env, write_config
    from support import CALLER_ACCESS_KEY, CALLER_SECRET_KEY

    home = workdir / "proxy"
    home.mkdir()
    port = free_port()
    callers = (
        "callers:\n"
        f"  - name: {CALLER_NAME}\n"
        f"    access_key_id: {CALLER_ACCESS_KEY}\n"
        f'    secret_access_key: "{CALLER_SECRET_KEY}"\n'
    )
    config = write_config(
        home,
        listen_port=port,
        endpoint=f"http://127.0.0.1:{upstream.port}",
        policy=POLICY,
        timeout="10s",
        callers=callers,
        admin_port=free_port(),
        audit_log="audit.jsonl",
        limits={"max_connections": 4096},
        extra=f"workers: {workers}\n" if workers else "",
    )
    return start("proxy", [*(wrapper or []), str(binary), "serve", "--config", str(config)], port, home,
                 env=proxy_env(), timeout=120 if wrapper else 20)


# ---- the requests -----------------------------------------------------------------
def request_pairs() -> dict[str, list[tuple[str, str]]]:
    """Every request a scenario may send, by name."""
    from support import ingress_pairs

    pairs = {"ingress": ingress_pairs(), "create": CREATE_PAIRS}
    pairs.update({f"describe-{i}": describe for i, describe in enumerate(DESCRIBE_PAIRS)})
    return pairs


def signed(port: int, pairs: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """A form body and its headers, signed by botocore for 127.0.0.1:port
    right now."""
    from support import form_encode, sign_raw

    body = form_encode(pairs)
    authorization, amz_date = sign_raw(port, body, region=REGION)
    return body, {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Authorization": authorization,
        "X-Amz-Date": amz_date,
    }


def signed_request(port: int, name: str = "ingress") -> tuple[str, dict[str, str]]:
    """One of `request_pairs()`, signed for 127.0.0.1:port right now."""
    return signed(port, request_pairs()[name])


def check_one_request(service: Service, name: str = "ingress") -> None:
    """One request by hand before any load: 200 and the upstream's XML."""
    body, headers = signed_request(service.port, name)
    request = urllib.request.Request(service.url, data=body.encode(), headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode(errors="replace")
    if status != 200 or "<AuthorizeCacheSecurityGroupIngressResult>" not in text:
        raise BenchError(f"{service.name}: a signed {name} request answered {status}: {text[:1000]}\n"
                         f"{service.log_tail()}")


# ---- the load tool -----------------------------------------------------------------
@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_us_per_request: float
    user_us_per_request: float  # of cpu_us_per_request, in user space


def oha(service: Service, *, concurrency: int, seconds: float, rate: float | None, save: Path | None,
        request: str = "ingress", count: int | None = None) -> Run:
    """One oha run of one request against `service`, freshly signed, for
    `seconds` or, given a `count`, for that many requests (within the 240 s
    a signature lasts); fails unless every response was a 200."""
    if seconds > MAX_RUN_SECONDS:
        raise BenchError(f"a run may last {MAX_RUN_SECONDS}s at most (the signature expires)")
    body, headers = signed_request(service.port, request)
    length = ["-n", str(count)] if count else ["-z", f"{seconds:g}s", "-w"]
    cmd = [str(OHA), service.url, "-m", "POST", "-d", body, "-c", str(concurrency), *length,
           "--no-tui", "--output-format", "json", "--disable-compression"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if rate:
        cmd += ["-q", str(rate), "--latency-correction"]
    user_before, system_before = service.cpu_seconds()
    done = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=MAX_RUN_SECONDS + 60 if count else seconds + 120)
    user_after, system_after = service.cpu_seconds()
    user = user_after - user_before
    cpu = user + system_after - system_before
    if done.returncode != 0:
        raise BenchError(f"oha failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    if save:
        save.write_text(done.stdout)
    codes = result.get("statusCodeDistribution", {})
    errors = result.get("errorDistribution", {})
    ok = codes.get("200", 0)
    if not ok or set(codes) != {"200"} or errors:
        raise BenchError(
            f"{service.name}: not every response was 200: status codes {codes}, errors {errors}\n"
            f"{service.log_tail()}"
        )
    percentiles = result["latencyPercentiles"]
    return Run(
        rps=result["summary"]["requestsPerSec"],
        p50_ms=percentiles["p50"] * 1000,
        p99_ms=percentiles["p99"] * 1000,
        requests=ok,
        cpu_us_per_request=cpu / ok * 1e6,
        user_us_per_request=user / ok * 1e6,
    )


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    apt_install(WRK_PACKAGE)
    wrk = shutil.which("wrk")
    if not wrk:
        raise BenchError(f"`{WRK_PACKAGE}` could not be installed")
    return wrk


def lua_string(text: str) -> str:
    """`text` as a Lua long string (form bodies and SigV4 headers never hold `]==]`)."""
    if "]==]" in text:
        raise BenchError(f"cannot quote {text[:80]!r} for Lua")
    return f"[==[{text}]==]"


def wrk_script(port: int, scenario: str) -> str:
    """A wrk script sending `scenario`'s requests, signed for port right now.
    One request is set as wrk's own (built once); a mix goes round-robin
    through pre-built requests, one Lua call per request."""
    weighted = SCENARIOS[scenario]
    signed_by_name = {name: signed_request(port, name) for name, _ in weighted}
    done = (
        "done = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        "  io.write(string.format('\\n{\"requests\":%d,\"duration_us\":%d,\"connect\":%d,"
        "\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p99_us\":%d}\\n',\n"
        "    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,\n"
        "    latency:percentile(50), latency:percentile(99)))\n"
        "end\n"
    )
    if len(weighted) == 1:
        body, headers = signed_by_name[weighted[0][0]]
        lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}"]
        lines += [f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items()]
        return "\n".join(lines) + "\n" + done
    lines = ["local requests = {}", "local n = 0", "init = function(args)", "  local built = {}"]
    for name, _ in weighted:
        body, headers = signed_by_name[name]
        table = ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items())
        lines.append(f'  built["{name}"] = wrk.format("POST", "/", {{{table}}}, {lua_string(body)})')
    # Interleaved (create, ingress, describe, ..., create, ...): a run of
    # one kind would be a burst the others do not see.
    left = dict(weighted)
    while any(left.values()):
        for name, _ in weighted:
            if left[name]:
                lines.append(f'  table.insert(requests, built["{name}"])')
                left[name] -= 1
    lines += [
        "end",
        "request = function()",
        "  n = n % #requests + 1",
        "  return requests[n]",
        "end",
    ]
    return "\n".join(lines) + "\n" + done


def wrk(service: Service, scenario: str, *, concurrency: int, seconds: float, save: Path | None,
        workdir: Path) -> Run:
    """One closed-loop wrk run of `scenario` against `service`, freshly
    signed; fails unless every response was a 200."""
    if seconds > MAX_RUN_SECONDS:
        raise BenchError(f"a run may last {MAX_RUN_SECONDS}s at most (the signature expires)")
    script = workdir / f"wrk-{scenario}.lua"
    script.write_text(wrk_script(service.port, scenario))
    threads = min(concurrency, os.cpu_count() or 1)
    cmd = [WRK, "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds:g}s", "--timeout", "5s",
           "-s", str(script), service.url]
    user_before, system_before = service.cpu_seconds()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    user_after, system_after = service.cpu_seconds()
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-2000:]}")
    if save:
        save.write_text(done.stdout)
    summaries = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not summaries:
        raise BenchError(f"wrk printed no summary: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    summary = json.loads(summaries[-1])
    failures = {k: summary[k] for k in ("connect", "read", "write", "status", "timeout") if summary[k]}
    ok = summary["requests"]
    if not ok or failures:
        raise BenchError(f"{service.name}, {scenario}: not every response was 200: {failures} of {ok}\n"
                         f"{done.stdout[-2000:]}\n{service.log_tail()}")
    user = user_after - user_before
    cpu = user + system_after - system_before
    return Run(
        rps=ok / (summary["duration_us"] / 1e6),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        requests=ok,
        cpu_us_per_request=cpu / ok * 1e6,
        user_us_per_request=user / ok * 1e6,
    )


# ---- the benchmark ---------------------------------------------------------------------
@dataclass
class Target:
    label: str
    service: Service  # what is driven
    measured: Service  # whose RSS and CPU are reported
    throughput: dict[str, list[Run]] = field(default_factory=dict)  # by scenario
    latency: dict[str, list[Run]] = field(default_factory=dict)  # by scenario
    rss_after_warmup_kib: int = 0
    rss_samples_kib: list[int] = field(default_factory=list)
    answered: int = 0  # 200s of every request sent, warm-ups included
    # wrk does not wait for the requests in flight at its deadline: the
    # target may still answer (and the proxy audit) up to this many more.
    in_flight_slack: int = 0


@contextlib.contextmanager
def perf_record(service: Service, output: Path | None):
    """Samples `service` with perf (call graphs from DWARF) while the block
    runs; a no-op without an output path."""
    if output is None:
        yield
        return
    perf = subprocess.Popen(
        ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
         "-p", str(service.proc.pid), "-o", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=300)
        log(f"profile of {service.name}: python3 bench/profile.py {output}")


def measure(target: Target, scenario: str, args, raw: Path, workdir: Path, repeat: int) -> None:
    service, c = target.service, args.concurrency
    tag = f"{scenario}-{service.name}-{repeat}"
    rated = scenario in ("ingress", "create") and not args.no_rate
    log(f"{target.label}, {scenario}: warm-up {args.warmup}s, then {args.duration}s at -c {c}"
        + (f", then {args.duration}s at {args.rate:g} req/s" if rated else ""))

    def closed(seconds: float, save: Path | None) -> Run:
        run = wrk(service, scenario, concurrency=c, seconds=seconds, save=save, workdir=workdir)
        target.answered += run.requests
        target.in_flight_slack += c
        return run

    closed(args.warmup, None)
    if not target.rss_after_warmup_kib:
        target.rss_after_warmup_kib = target.measured.status_kib("VmRSS")
    profile = raw / f"{tag}-throughput.perf.data" if service.name in args.perf and repeat == 0 else None
    with perf_record(service, profile):
        run = closed(args.duration, raw / f"{tag}-throughput.txt")
    target.throughput.setdefault(scenario, []).append(run)
    target.rss_samples_kib.append(target.measured.status_kib("VmRSS"))
    if rated:
        fixed = oha(service, concurrency=args.rate_concurrency, seconds=args.duration, rate=args.rate,
                    save=raw / f"{tag}-rate.json", request=scenario)
        target.answered += fixed.requests
        target.latency.setdefault(scenario, []).append(fixed)
        target.rss_samples_kib.append(target.measured.status_kib("VmRSS"))
        if fixed.rps < 0.95 * args.rate:
            log(f"warning: {target.label} reached only {fixed.rps:.0f} of {args.rate:g} req/s "
                "in the fixed-rate run")


def audited_requests(proxy: Service, target: Target) -> int:
    """The proxy's audit lines, one per request: at least as many as were
    answered (wrk leaves the last requests of a run unread), each allowed and
    forwarded (a cheaper path would not be the one benchmarked)."""
    lines = 0
    with open(proxy.log_path.parent / "audit.jsonl", "rb") as audit:
        for line in audit:
            lines += 1
            if b'"decision":"allow"' not in line or b'"upstream_status":200' not in line:
                raise BenchError(f"an audit line shows a request not allowed and forwarded: {line[:2000]!r}")
    if not target.answered <= lines <= target.answered + target.in_flight_slack:
        raise BenchError(f"the proxy answered {target.answered} requests (and up to "
                         f"{target.in_flight_slack} more unread) but wrote {lines} audit lines")
    return lines


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """min–max as a percentage of the median, for noisy machines."""
    if len(values) < 2:
        return ""
    mid = median(values)
    return f" (±{(max(values) - min(values)) / 2 / mid * 100:.0f}%)" if mid else ""


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def machine_facts() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return [f"nproc {os.cpu_count()}", f"CPU {cpu}", f"kernel {platform.release()}"]


def versions(nginx: str) -> list[str]:
    def out(cmd: list[str], cwd: Path | None = None) -> str:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
        return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"

    commit = out(["git", "rev-parse", "--short", "HEAD"], REPO)
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src", "Cargo.toml", "Cargo.lock"],
                           cwd=REPO).returncode
    wrk_version = out(["dpkg-query", "-W", "-f", "${Version}", WRK_PACKAGE])
    return [
        f"wrk {wrk_version} (Debian)",
        out([str(OHA), "--version"]),
        out([nginx, "-v"]).replace("nginx version: ", ""),
        out(["rustc", "--version"]).split(" (")[0],
        f"proxy commit {commit}{' + uncommitted changes' if dirty else ''} (release build)",
    ]


def report(targets: list[Target], args, command: str, nginx: str, load_before: str, proxy_lines: int) -> str:
    direct, nginx_target, proxy = targets
    c, rate = args.concurrency, f"{args.rate:,.0f}"

    def med(runs: list[Run], figure: str) -> float:
        return median([getattr(r, figure) for r in runs])

    lines = [
        f"| Request | Target | req/s at c={c} | × nginx | p50 ms | p99 ms | p99 × nginx | CPU µs/req |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    verdicts = []
    for scenario in args.requests:
        base = nginx_target.throughput[scenario]
        for target in targets:
            runs = target.throughput[scenario]
            rps = [r.rps for r in runs]
            ratio = "—" if target is direct else f"{med(runs, 'rps') / med(base, 'rps'):.2f}×"
            p99_ratio = "—" if target is direct else f"{med(runs, 'p99_ms') / med(base, 'p99_ms'):.2f}×"
            lines.append(
                f"| {scenario if target is direct else ''} | {target.label} | {median(rps):,.0f}{spread(rps)} "
                f"| {ratio} | {med(runs, 'p50_ms'):.3f} | {med(runs, 'p99_ms'):.3f} | {p99_ratio} "
                f"| {med(runs, 'cpu_us_per_request'):.1f} |"
            )
        mine = proxy.throughput[scenario]
        # Paired by round, then the median: a round's targets run within a
        # minute of each other, so they share the machine's background load.
        paired = median([a.rps / b.rps for a, b in zip(mine, base)])
        goal = {"ingress": 0.90, "create": 0.85}.get(scenario)
        verdict = f"- {SCENARIO_LABELS[scenario]}: proxy / nginx **{paired:.2f}×** (paired by round)"
        if goal:
            verdict += f", goal ≥ {goal:.2f}×: {'met' if paired >= goal else 'missed'}"
        p99 = median([a.p99_ms / b.p99_ms for a, b in zip(mine, base)])
        verdict += f"; p99 {p99:.2f}× nginx's"
        if scenario == "create":
            verdict += f", goal ≤ 1.50×: {'met' if p99 <= 1.5 else 'missed'}"
        verdict += ". CPU µs per request, user + kernel: " + "; ".join(
            f"{t.label} {med(t.throughput[scenario], 'user_us_per_request'):.1f} + "
            f"{med(t.throughput[scenario], 'cpu_us_per_request') - med(t.throughput[scenario], 'user_us_per_request'):.1f}"
            for t in targets
        ) + "."
        verdicts.append(verdict)

    rated = [scenario for scenario in args.requests if proxy.latency.get(scenario)]
    if rated:
        lines += [
            "",
            f"| Request | Target | p50 ms at {rate}/s | p99 ms at {rate}/s | added p99 ms |",
            "|---|---|--:|--:|--:|",
        ]
        for scenario in rated:
            for target in targets:
                runs = target.latency[scenario]
                added = "—" if target is direct else (
                    f"{median([a.p99_ms - b.p99_ms for a, b in zip(runs, direct.latency[scenario])]):+.3f}")
                lines.append(f"| {scenario if target is direct else ''} | {target.label} "
                             f"| {med(runs, 'p50_ms'):.3f} | {med(runs, 'p99_ms'):.3f} | {added} |")

    growth = proxy.rss_samples_kib[-1] - proxy.rss_after_warmup_kib
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    lines += [
        "",
        *verdicts,
        "- RSS MiB after the first warm-up → at the end (peak): " + "; ".join(
            f"{t.label} {mib(t.rss_after_warmup_kib)} → {mib(t.rss_samples_kib[-1])} "
            f"({mib(t.measured.status_kib('VmHWM'))})" for t in targets
        ) + f". The proxy's grew {growth / 1024:+.1f} MiB over {proxy_lines:,} audited requests.",
        "",
        f"Each figure is the median of {args.repeat} round(s); a round runs every request kind "
        f"against every target in turn: a {args.warmup:g} s warm-up, then {args.duration:g} s with "
        f"wrk at -c {c}" + (f", then {args.duration:g} s at {rate} requests/s with oha "
                            "(latency-corrected; the single-request kinds only)" if rated else "")
        + ". ± is half the min–max range. Every response a 200; the proxy's audit log has one "
        "`allow` line with upstream status 200 per request. CPU µs/req is the target's own CPU time "
        "(all its processes) per request in the wrk run. The upstream answers every request with "
        "the same AuthorizeCacheSecurityGroupIngress XML.",
        "",
        f"Machine: {', '.join(machine_facts())}; load average before {load_before}, "
        f"after {' '.join(load_after)}. The load tool, the target and the upstream share these cores.",
        f"Tools: {'; '.join(versions(nginx))}.",
        "",
        f"Command: `{command}`",
    ]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, help="seconds of each measured run (default 15; --quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each run (2; --quick 1)")
    parser.add_argument("--repeat", type=int, help="rounds over all targets, medians reported (3; --quick 1)")
    parser.add_argument("--requests", default=",".join(SCENARIOS),
                        help=f"comma-separated request kinds to run, of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections of the throughput run")
    parser.add_argument("--rate", type=float, default=1000, help="requests/s of the latency run")
    parser.add_argument("--rate-concurrency", type=int, default=8, help="connections of the latency run")
    parser.add_argument("--no-rate", action="store_true", help="skip the fixed-rate latency runs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 1 s warm-up, one round")
    parser.add_argument("--proxy-bin", type=Path, help="benchmark this binary instead of building one")
    parser.add_argument("--proxy-workers", type=int, help="the proxy's `workers` setting (default: one per CPU)")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.md", help="where the tables go")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (configs, logs, audit)")
    parser.add_argument("--perf", action="append", default=[], choices=["proxy", "nginx", "upstream"],
                        help="profile this target's first throughput run of each request kind "
                             "with perf record (repeatable)")
    args = parser.parse_args()
    # --quick changes the defaults only: what is given explicitly stands.
    defaults = {"duration": 3, "warmup": 1, "repeat": 1} if args.quick else {"duration": 15, "warmup": 2, "repeat": 3}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.duration <= 0 or args.warmup <= 0 or args.repeat < 1 or args.concurrency < 1:
        parser.error("durations, --repeat and --concurrency must be positive")
    args.requests = [name.strip() for name in args.requests.split(",") if name.strip()]
    unknown = [name for name in args.requests if name not in SCENARIOS]
    if unknown or not args.requests:
        parser.error(f"--requests takes {', '.join(SCENARIOS)}, not `{','.join(unknown)}`")
    return args


def main() -> int:
    command = shlex.join(["python3", "bench/load.py", *sys.argv[1:]])
    args = parse_args()
    ensure_signing_python()
    sys.path[:0] = [str(E2E), str(E2E.parent)]  # the e2e helpers and tests/harness
    for name in list(os.environ):  # no AWS settings of this machine reach botocore
        if name.upper().startswith(("AWS_", "BOTO_")):
            del os.environ[name]
    from fake_upstream import authorize_ingress_xml
    from support import ALLOWED_INGRESS

    # A stopped benchmark still stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    TOOLS.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    if not args.no_rate:
        ensure_oha()
    nginx = ensure_nginx()
    binary = build_proxy(args.proxy_bin, symbols="proxy" in args.perf)
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = RESULTS / "runs" / stamp
    raw.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="eap-bench-"))
    workdir.chmod(0o755)  # nginx workers run as another user
    services: list[Service] = []
    try:
        xml = authorize_ingress_xml(ALLOWED_INGRESS, REGION, UPSTREAM_REQUEST_ID).decode()
        upstream = start_nginx(nginx, "upstream", "nginx-upstream.conf.in", workdir, {
            "REQUEST_ID": UPSTREAM_REQUEST_ID,
            "BODY": xml.replace("\\", "\\\\").replace("'", "\\'"),
        })
        services.append(upstream)
        reverse = start_nginx(nginx, "nginx", "nginx-proxy.conf.in", workdir,
                              {"UPSTREAM_PORT": str(upstream.port)})
        services.append(reverse)
        proxy = start_proxy(binary, workdir, upstream, args.proxy_workers)
        services.append(proxy)
        targets = [
            Target("direct (no proxy)", upstream, upstream),
            Target("nginx reverse proxy", reverse, reverse),
            Target("elasticache-authz-proxy", proxy, proxy),
        ]
        for target in targets:
            for name in request_pairs():
                check_one_request(target.service, name)
                target.answered += 1
        for repeat in range(args.repeat):
            for scenario in args.requests:
                for target in targets:
                    measure(target, scenario, args, raw, workdir, repeat)
        proxy_lines = audited_requests(proxy, targets[-1])
        table = report(targets, args, command, nginx, load_before, proxy_lines)
    finally:
        for service in reversed(services):
            service.stop()
        if args.keep:
            log(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(f"# Load benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}\n\n{table}")
    print(table)
    log(f"written to {args.output} (raw load-tool output in {raw}); took {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        print(f"[bench] FAILED: {err}", file=sys.stderr)
        sys.exit(1)
    except subprocess.CalledProcessError as err:
        print(f"[bench] FAILED: {shlex.join(map(str, err.cmd))} exited with {err.returncode}", file=sys.stderr)
        sys.exit(1)
