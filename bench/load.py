#!/usr/bin/env python3
"""Load benchmark: the proxy against nginx as a plain reverse proxy and
against no proxy at all, all in front of the same local upstream, all driven
by the same load tool with the same SigV4-signed ElastiCache request.

    python3 bench/load.py            # full run (a few minutes)
    python3 bench/load.py --quick    # smoke run (well under a minute once built)

It installs what it needs (oha, pinned, into bench/.tools; nginx from
Debian), builds the proxy in release mode, starts everything on 127.0.0.1,
and prints one markdown table, also written to bench/results/latest.md.
Every run must answer 200 only; anything else fails the benchmark.
See bench/README.md.
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
"""


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


def ensure_nginx() -> str:
    nginx = find_nginx()
    if nginx:
        return nginx
    if os.geteuid() != 0:
        raise BenchError("nginx is not installed and this is not root: `apt-get install nginx-light`")
    log("installing nginx from Debian (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
    for package in NGINX_PACKAGES:
        known = subprocess.run(["apt-cache", "show", package], capture_output=True)
        if known.returncode == 0 and known.stdout.strip():
            run(["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
                env=env, stdout=subprocess.DEVNULL)
            break
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


def start(name: str, argv: list[str], port: int, workdir: Path, env: dict[str, str] | None = None) -> Service:
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=workdir, env=env)
    service = Service(name, proc, port, log_path)
    service.wait_listening()
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


def start_proxy(binary: Path, workdir: Path, upstream: Service, workers: int | None = None) -> Service:
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
    return start("proxy", [str(binary), "serve", "--config", str(config)], port, home, env=proxy_env())


# ---- the request -----------------------------------------------------------------
def signed_request(port: int) -> tuple[str, dict[str, str]]:
    """The ingress request's form body and headers, signed by botocore for
    127.0.0.1:port right now."""
    from support import form_encode, ingress_pairs, sign_raw

    body = form_encode(ingress_pairs())
    authorization, amz_date = sign_raw(port, body, region=REGION)
    return body, {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Authorization": authorization,
        "X-Amz-Date": amz_date,
    }


def check_one_request(service: Service) -> None:
    """One request by hand before any load: 200 and the upstream's XML."""
    body, headers = signed_request(service.port)
    request = urllib.request.Request(service.url, data=body.encode(), headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode(errors="replace")
    if status != 200 or "<AuthorizeCacheSecurityGroupIngressResult>" not in text:
        raise BenchError(f"{service.name}: a signed request answered {status}: {text[:1000]}\n{service.log_tail()}")


# ---- the load tool -----------------------------------------------------------------
@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_us_per_request: float
    user_us_per_request: float  # of cpu_us_per_request, in user space


def oha(service: Service, *, concurrency: int, seconds: float, rate: float | None, save: Path | None) -> Run:
    """One oha run against `service`, freshly signed; fails unless every
    response was a 200."""
    if seconds > MAX_RUN_SECONDS:
        raise BenchError(f"a run may last {MAX_RUN_SECONDS}s at most (the signature expires)")
    body, headers = signed_request(service.port)
    cmd = [str(OHA), service.url, "-m", "POST", "-d", body, "-c", str(concurrency), "-z", f"{seconds}s",
           "-w", "--no-tui", "--output-format", "json", "--disable-compression"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if rate:
        cmd += ["-q", str(rate), "--latency-correction"]
    user_before, system_before = service.cpu_seconds()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
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


# ---- the benchmark ---------------------------------------------------------------------
@dataclass
class Target:
    label: str
    service: Service  # what is driven
    measured: Service  # whose RSS and CPU are reported
    throughput: list[Run] = field(default_factory=list)
    latency: list[Run] = field(default_factory=list)
    rss_after_warmup_kib: int = 0
    rss_samples_kib: list[int] = field(default_factory=list)
    answered: int = 0  # 200s of every request sent, warm-ups included

    def drive(self, **options) -> Run:
        run = oha(self.service, **options)
        self.answered += run.requests
        return run


@contextlib.contextmanager
def perf_record(service: Service, output: Path | None):
    """Samples `service` with perf (call graphs from DWARF) while the block
    runs; a no-op without an output path."""
    if output is None:
        yield
        return
    perf = subprocess.Popen(
        ["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,16384", "-p", str(service.proc.pid),
         "-o", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=120)
        log(f"profile of {service.name}: perf report -i {output} --no-children")


def measure(target: Target, args, raw: Path, repeat: int) -> None:
    service, c = target.service, args.concurrency
    tag = f"{service.name}-{repeat}"
    log(f"{target.label}: warm-up {args.warmup}s, then {args.duration}s at -c {c}, "
        f"then {args.duration}s at {args.rate:g} req/s")
    target.drive(concurrency=c, seconds=args.warmup, rate=None, save=None)
    if not target.rss_after_warmup_kib:
        target.rss_after_warmup_kib = target.measured.status_kib("VmRSS")
    profile = raw / f"{tag}-throughput.perf.data" if service.name in args.perf and repeat == 0 else None
    with perf_record(service, profile):
        target.throughput.append(target.drive(concurrency=c, seconds=args.duration, rate=None,
                                              save=raw / f"{tag}-throughput.json"))
    target.rss_samples_kib.append(target.measured.status_kib("VmRSS"))
    target.latency.append(target.drive(concurrency=args.rate_concurrency, seconds=args.duration,
                                       rate=args.rate, save=raw / f"{tag}-rate.json"))
    target.rss_samples_kib.append(target.measured.status_kib("VmRSS"))
    achieved = target.latency[-1].rps
    if achieved < 0.95 * args.rate:
        log(f"warning: {target.label} reached only {achieved:.0f} of {args.rate:g} req/s in the fixed-rate run")


def audited_requests(proxy: Service, answered: int) -> int:
    """The proxy's audit lines, one per request: as many as it answered, each
    allowed and forwarded (a cheaper path would not be the one benchmarked)."""
    lines = 0
    with open(proxy.log_path.parent / "audit.jsonl", "rb") as audit:
        for line in audit:
            lines += 1
            if b'"decision":"allow"' not in line or b'"upstream_status":200' not in line:
                raise BenchError(f"an audit line shows a request not allowed and forwarded: {line[:2000]!r}")
    if lines != answered:
        raise BenchError(f"the proxy answered {answered} requests but wrote {lines} audit lines")
    return answered


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
    return [
        out([str(OHA), "--version"]),
        out([nginx, "-v"]).replace("nginx version: ", ""),
        out(["rustc", "--version"]).split(" (")[0],
        f"proxy commit {commit}{' + uncommitted changes' if dirty else ''} (release build)",
    ]


def report(targets: list[Target], args, command: str, nginx: str, load_before: str, proxy_requests: int) -> str:
    direct, nginx_target, proxy = targets

    def added_p99(target: Target) -> float:
        """Paired by round (a round's targets run minutes apart at most, so
        they share the machine's background load), then the median."""
        return median([mine.p99_ms - base.p99_ms for mine, base in zip(target.latency, direct.latency)])

    c, rate = args.concurrency, f"{args.rate:,.0f}"
    lines = [
        f"| Target | req/s at c={c} | p50 ms | p99 ms | CPU µs/req | p50 ms at {rate}/s | p99 ms at {rate}/s "
        f"| added p99 ms at {rate}/s | RSS MiB: warm → end (peak) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for target in targets:
        rps = [r.rps for r in target.throughput]
        p99 = median([r.p99_ms for r in target.latency])
        added = "—" if target is direct else f"{added_p99(target):+.3f}"
        rss = (f"{mib(target.rss_after_warmup_kib)} → {mib(target.rss_samples_kib[-1])} "
               f"({mib(target.measured.status_kib('VmHWM'))})")
        lines.append(
            f"| {target.label} | {median(rps):,.0f}{spread(rps)} "
            f"| {median([r.p50_ms for r in target.throughput]):.3f} "
            f"| {median([r.p99_ms for r in target.throughput]):.3f} "
            f"| {median([r.cpu_us_per_request for r in target.throughput]):.0f} "
            f"| {median([r.p50_ms for r in target.latency]):.3f} | {p99:.3f} | {added} | {rss} |"
        )
    proxy_rps = median([r.rps for r in proxy.throughput])
    nginx_rps = median([r.rps for r in nginx_target.throughput])
    proxy_added = added_p99(proxy)
    growth = proxy.rss_samples_kib[-1] - proxy.rss_after_warmup_kib
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    lines += [
        "",
        f"- Throughput, proxy / nginx: **{proxy_rps / nginx_rps:.2f}×** "
        f"(target ≥ 1.00×: {'met' if proxy_rps >= nginx_rps else 'missed'}).",
        f"- Added p99 at {rate} req/s over direct: **{proxy_added:.3f} ms** "
        f"(target < 1 ms: {'met' if proxy_added < 1 else 'missed'}).",
        "- CPU µs per request in the throughput runs, user + kernel: " + "; ".join(
            f"{t.label} {median([r.user_us_per_request for r in t.throughput]):.1f} + "
            f"{median([r.cpu_us_per_request - r.user_us_per_request for r in t.throughput]):.1f}"
            for t in targets
        ) + ".",
        f"- Proxy RSS after warm-up → after {proxy_requests:,} requests: "
        f"{mib(proxy.rss_after_warmup_kib)} → {mib(proxy.rss_samples_kib[-1])} MiB "
        f"({growth / 1024:+.1f} MiB; samples after each run: "
        f"{', '.join(mib(s) for s in proxy.rss_samples_kib)}).",
        "",
        f"Each figure is the median of {args.repeat} run(s) of {args.duration:g} s, each after a "
        f"{args.warmup:g} s warm-up (± is half the min–max range); added p99 is the median of "
        "the per-round differences to direct. The same signed "
        "`AuthorizeCacheSecurityGroupIngress` POST every time, every response a 200. "
        "CPU µs/req is the target's own CPU time (all processes) per request in the throughput run; "
        "RSS is the target's (nginx: master + workers; direct: the upstream nginx).",
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
    parser.add_argument("--duration", type=float, help="seconds of each measured run (default 20; --quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each target's runs (3; --quick 1)")
    parser.add_argument("--repeat", type=int, help="rounds over all targets, medians reported (3; --quick 1)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections of the throughput run")
    parser.add_argument("--rate", type=float, default=1000, help="requests/s of the latency run")
    parser.add_argument("--rate-concurrency", type=int, default=8, help="connections of the latency run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 1 s warm-up, one round")
    parser.add_argument("--proxy-bin", type=Path, help="benchmark this binary instead of building one")
    parser.add_argument("--proxy-workers", type=int, help="the proxy's `workers` setting (default: one per CPU)")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.md", help="where the table goes")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (configs, logs, audit)")
    parser.add_argument("--perf", action="append", default=[], choices=["proxy", "nginx", "upstream"],
                        help="profile this target's first throughput run with perf record (repeatable)")
    args = parser.parse_args()
    # --quick changes the defaults only: what is given explicitly stands.
    defaults = {"duration": 3, "warmup": 1, "repeat": 1} if args.quick else {"duration": 20, "warmup": 3, "repeat": 3}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.duration <= 0 or args.warmup <= 0 or args.repeat < 1 or args.concurrency < 1:
        parser.error("durations, --repeat and --concurrency must be positive")
    return args


def main() -> int:
    command = shlex.join(["python3", "bench/load.py", *sys.argv[1:]])
    args = parse_args()
    ensure_signing_python()
    sys.path.insert(0, str(E2E))
    for name in list(os.environ):  # no AWS settings of this machine reach botocore
        if name.upper().startswith(("AWS_", "BOTO_")):
            del os.environ[name]
    from fake_upstream import authorize_ingress_xml
    from support import ALLOWED_INGRESS

    # A stopped benchmark still stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    TOOLS.mkdir(parents=True, exist_ok=True)
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
            check_one_request(target.service)
            target.answered += 1
        for repeat in range(args.repeat):
            for target in targets:
                measure(target, args, raw, repeat)
        proxy_requests = audited_requests(proxy, targets[-1].answered)
        table = report(targets, args, command, nginx, load_before, proxy_requests)
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
    log(f"written to {args.output} (raw oha output in {raw}); took {time.monotonic() - started:.0f}s")
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
