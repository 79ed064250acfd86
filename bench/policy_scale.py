#!/usr/bin/env python3
"""Footprint benchmark: how fast the proxy is ready, how much memory it
holds, and what a reload costs, for policies of 1 to 10,000 rules.

    python3 bench/policy_scale.py                       # 1 and 10,000 rules, 3 rounds
    python3 bench/policy_scale.py --rules 1,1000,10000 --repeat 5
    python3 bench/policy_scale.py --proxy-bin /tmp/before --env MALLOC_ARENA_MAX=2
    python3 bench/policy_scale.py --rules 10000 --smaps  # where the memory is, by mapping

The proxy runs as a new user runs it: a release build, `serve` on the
shipped `config/proxy.yaml` (the sidecar set-up) with only its ports and its
policy file changed. The policies are the criterion benchmark's
(`benches/request_path.rs`): a read-only rule, then one ingress rule per
team with its account, region, callers and three group patterns, and a deny
for every tenth team's frozen group. A one-rule policy is the read-only rule
alone. For each round a fresh process is started; the figures are:

- ready ms: from starting the process to the first 200 from `/readyz`,
  polled every millisecond, and the CPU time the process had used by then
  (user + system, in 10 ms ticks: steadier on a busy machine);
- RSS: VmRSS once the proxy has been idle for `--settle` seconds after
  ready, after the first `POST /reload` and after the last one (the
  allocator returns freed memory to the system with a delay, so a reading
  taken at once shows memory already freed);
- reload ms: the round trip of `POST /reload` (read, validate, compile,
  swap), and the CPU time it cost, medians over the reloads;
- peak: VmHWM at the end.

Medians over the rounds. Nothing here touches the network but 127.0.0.1;
the upstream is never called. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import BenchError, free_port  # noqa: E402  (shared with the load benchmark)

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = REPO / "config" / "proxy.yaml"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
CALLER = "bench"  # the caller the policy's ingress rules name


def policy_text(rules: int) -> str:
    """The criterion benchmark's policy (`benches/request_path.rs`,
    `policy_text`), rule for rule."""
    out = ['rules:\n  - id: read-only\n    effect: allow\n    actions: ["Describe*", ListTagsForResource]\n']
    for team in range(max(rules - 1, 0)):
        region = REGIONS[team % len(REGIONS)]
        if team % 10 == 9:
            out.append(
                f"  - id: team{team}-frozen\n    effect: deny\n"
                '    actions: ["*CacheSecurityGroupIngress"]\n'
                f'    owner_ids: ["{100_000_000_000 + team - 1:012}"]\n'
                f'    cache_security_groups: ["team{team}-legacy"]\n'
            )
        else:
            out.append(
                f"  - id: team{team}-ingress\n    effect: allow\n"
                "    actions: [AuthorizeCacheSecurityGroupIngress, RevokeCacheSecurityGroupIngress]\n"
                f"    callers: [{CALLER}]\n    regions: [{region}]\n"
                f'    owner_ids: ["{100_000_000_000 + team:012}"]\n'
                f'    cache_security_groups: ["team{team}-[a-z0-9-]+"]\n'
                f'    ec2_security_groups: ["app{team}-(web|worker|cron)", "ci-runner-{team}"]\n'
            )
    return "".join(out)


def config_text(listen: int, admin: int) -> str:
    """The shipped config with its ports, its policy and audit files and its
    trusted caller replaced: the caller is the one the policy's rules name,
    so that no rule draws a warning for naming an unknown caller."""
    text = SHIPPED_CONFIG.read_text()
    for key, value in [("listen", f"127.0.0.1:{listen}"), ("admin_listen", f"127.0.0.1:{admin}"),
                       ("policy", "policy.yaml"), ("audit_log", "audit.jsonl"), ("trusted_caller", CALLER)]:
        text, count = re.subn(rf'^{key}: .*$', f'{key}: "{value}"', text, flags=re.M)
        if count != 1:
            raise BenchError(f"{SHIPPED_CONFIG} has no single `{key}:` line to replace")
    return text


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {key}")


def cpu_ms(pid: int) -> float:
    """User and system CPU time so far (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def rollup_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[name] = int(parts[0])
    return out


def smaps_table(pid: int, top: int = 25) -> str:
    """The mappings that hold the most RSS, named (thread stacks, heap
    segments, the binary's sections, libraries)."""
    rows, current = [], None
    header = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if header.match(line):
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            current = {"name": parts[5] if len(parts) > 5 else "[anon]", "perms": parts[1],
                       "size": (end - start) // 1024, "rss": 0, "anon": 0}
            rows.append(current)
        elif current is not None and line.startswith("Rss:"):
            current["rss"] = int(line.split()[1])
        elif current is not None and line.startswith("Anonymous:"):
            current["anon"] = int(line.split()[1])
    rows.sort(key=lambda r: -r["rss"])
    lines = [f"{'RSS KiB':>9} {'anon KiB':>9} {'size KiB':>10}  perms  mapping"]
    for r in rows[:top]:
        lines.append(f"{r['rss']:>9} {r['anon']:>9} {r['size']:>10}  {r['perms']}   {Path(r['name']).name or r['name']}")
    lines.append(f"{sum(r['rss'] for r in rows):>9} {sum(r['anon'] for r in rows):>9} "
                 f"{sum(r['size'] for r in rows):>10}  total over {len(rows)} mappings")
    return "\n".join(lines)


def http_call(port: int, method: str, path: str, timeout: float) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen, admin: int, deadline: float, log_path: Path) -> None:
    """Polls `/readyz` every millisecond until it answers 200."""
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if http_call(admin, "GET", "/readyz", timeout=1)[0] == 200:
                return
        time.sleep(0.001)
    why = f"exited with {proc.returncode}" if proc.poll() is not None else "was not ready in time"
    raise BenchError(f"the proxy {why}:\n{log_path.read_text()[-3000:]}")


@dataclass
class Round:
    ready_ms: float
    ready_cpu_ms: float
    threads: int
    rss_ready_kib: int
    anon_ready_kib: int
    reload_ms: list[float] = field(default_factory=list)
    reload_cpu_ms: list[float] = field(default_factory=list)
    rss_after_reload_kib: list[int] = field(default_factory=list)
    peak_kib: int = 0


def one_round(binary: Path, rules: int, args, workdir: Path, env: dict[str, str], smaps: bool) -> Round:
    home = Path(tempfile.mkdtemp(prefix=f"rules{rules}-", dir=workdir))
    (home / "policy.yaml").write_text(policy_text(rules))
    admin = free_port()
    (home / "proxy.yaml").write_text(config_text(free_port(), admin))
    log_path = home / "proxy.log"
    with open(log_path, "wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen([str(binary), "serve", "--config", str(home / "proxy.yaml")],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=home, env=env)
    try:
        wait_ready(proc, admin, started + args.timeout, log_path)
        ready_ms, ready_cpu = (time.monotonic() - started) * 1000, cpu_ms(proc.pid)
        time.sleep(args.settle)
        rollup = rollup_kib(proc.pid)
        result = Round(ready_ms, ready_cpu, status_kib(proc.pid, "Threads"), status_kib(proc.pid, "VmRSS"),
                       rollup.get("Anonymous", 0))
        if smaps:
            print(f"\n== {rules} rules, idle after ready: /proc/{proc.pid}/smaps, largest first\n{smaps_table(proc.pid)}")
        for _ in range(args.reloads):
            before, cpu_before = time.monotonic(), cpu_ms(proc.pid)
            status, body = http_call(admin, "POST", "/reload", timeout=args.timeout)
            result.reload_ms.append((time.monotonic() - before) * 1000)
            result.reload_cpu_ms.append(cpu_ms(proc.pid) - cpu_before)
            if status != 200:
                raise BenchError(f"POST /reload answered {status}: {body[:500]!r}")
            time.sleep(args.settle)
            result.rss_after_reload_kib.append(status_kib(proc.pid, "VmRSS"))
        if smaps and args.reloads:
            print(f"\n== {rules} rules, after {args.reloads} reloads\n{smaps_table(proc.pid)}")
        result.peak_kib = status_kib(proc.pid, "VmHWM")
        return result
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def build(args) -> Path:
    if args.proxy_bin:
        return args.proxy_bin
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    print("[bench] cargo build --release --locked", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=REPO, check=True)
    return target / "release" / "elasticache-authz-proxy"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", default="1,10000", help="comma-separated rule counts (default 1,10000)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per rule count; medians (3)")
    parser.add_argument("--reloads", type=int, default=5, help="POST /reload calls per process (5)")
    parser.add_argument("--settle", type=float, default=4.0,
                        help="idle seconds before each RSS reading (4: the allocator returns freed memory "
                             "a second after it is freed, at its next call, and the file watcher calls it "
                             "every 2 s)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for ready or a reload")
    parser.add_argument("--proxy-bin", type=Path, help="measure this binary instead of building one")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the proxy, e.g. MALLOC_ARENA_MAX=2 (repeatable)")
    parser.add_argument("--smaps", action="store_true", help="print the largest mappings of the first round")
    args = parser.parse_args()
    try:
        args.rule_counts = [int(n) for n in args.rules.split(",")]
    except ValueError:
        parser.error("--rules takes numbers separated by commas")
    if args.repeat < 1 or args.reloads < 1 or any(n < 1 for n in args.rule_counts):
        parser.error("--repeat, --reloads and every rule count must be at least 1")
    for item in args.env:
        if "=" not in item:
            parser.error(f"--env takes NAME=VALUE, not {item!r}")
    return args


def main() -> int:
    args = parse_args()
    command = shlex.join(["python3", "bench/policy_scale.py", *sys.argv[1:]])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    binary = build(args)
    if not binary.is_file():
        raise BenchError(f"no proxy binary at {binary}")
    # The README's quick start: static credentials, and nothing but them.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(item.split("=", 1) for item in args.env)
    workdir = Path(tempfile.mkdtemp(prefix="eap-scale-"))
    rows = []
    try:
        for rules in args.rule_counts:
            rounds = [one_round(binary, rules, args, workdir, env, args.smaps and i == 0) for i in range(args.repeat)]
            med = statistics.median
            last = args.reloads - 1
            rows.append(
                f"| {rules:,} | {med(r.ready_ms for r in rounds):.0f} ({med(r.ready_cpu_ms for r in rounds):.0f}) | {mib(med(r.rss_ready_kib for r in rounds))} "
                f"({mib(med(r.anon_ready_kib for r in rounds))}) | {med(r.threads for r in rounds):.0f} "
                f"| {med(statistics.median(r.reload_ms) for r in rounds):.0f} "
                f"({med(statistics.median(r.reload_cpu_ms) for r in rounds):.0f}) "
                f"| {mib(med(r.rss_after_reload_kib[0] for r in rounds))} "
                f"| {mib(med(r.rss_after_reload_kib[last] for r in rounds))} "
                f"| {mib(med(r.peak_kib for r in rounds))} |"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    size = binary.stat().st_size
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"\n`{command}` on {os.cpu_count()} CPUs (load {load}); binary {size / 2**20:.1f} MiB "
          f"({size:,} bytes); medians of {args.repeat} processes"
          + (f"; env {' '.join(args.env)}" if args.env else "") + "\n")
    print(f"| rules | ready ms (CPU ms) | RSS MiB idle (anonymous) | threads | reload ms (CPU ms) "
          f"| RSS MiB after 1 reload | after {args.reloads} | peak MiB |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"[bench] FAILED: {err}")
