#!/usr/bin/env python3
"""A/B comparison of proxy builds: CPU per request and throughput, measured
interleaved in one session so that the machine's drift spreads over all of
them.

    python3 bench/ab.py target/release/elasticache-authz-proxy /tmp/other-build
    python3 bench/ab.py --rounds 5 --rate 8000 --seconds 3 A B C
    python3 bench/ab.py --request create A B     # or ingress (default), mix
    python3 bench/ab.py --request create --instructions 2000 A B   # instructions per request

Every binary gets its own proxy (same config as bench/load.py) in front of
one shared upstream. Each round runs, per binary in turn, a fixed-rate run
with oha (CPU µs per request at the same offered load; single-request
kinds only) and a closed-loop run with wrk at -c 32 (requests/s and CPU µs
per request at saturation). Medians at the end. Every response must be a
200. With --instructions N, each binary instead serves N and then 2N
requests under valgrind's callgrind, in fresh processes, and the difference
gives its instructions per request: repeatable whatever else the machine is
doing. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (the benchmark's services, signing and oha runs)


def instructions(binary: Path, workdir: Path, upstream: load.Service, request: str, count: int) -> int:
    """Instructions (callgrind's Ir, every thread) of a fresh proxy that
    starts, serves `count` requests one connection at a time and stops."""
    home = workdir / f"callgrind-{len(list(workdir.iterdir()))}"
    home.mkdir()
    out = home / "callgrind.out"
    proxy = load.start_proxy(binary.resolve(), home, upstream, workers=1,
                             wrapper=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
    try:
        served = load.oha(proxy, concurrency=1, seconds=0, rate=None, save=None, request=request, count=count)
        if served.requests != count:
            raise load.BenchError(f"{binary}: {served.requests} of {count} requests answered")
    finally:
        proxy.stop()
    totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if not totals:
        raise load.BenchError(f"no totals in {out}")
    kept = load.RESULTS / "runs" / time.strftime("%Y%m%d-%H%M%S") / f"callgrind-{binary.name}-{count}.out"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out, kept)
    load.log(f"where they go: callgrind_annotate {kept}")
    return int(totals.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binaries", nargs="+", type=Path, help="proxy binaries to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3, help="length of each run")
    parser.add_argument("--rate", type=float, default=8000, help="requests/s of the fixed-rate run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--request", default="ingress", choices=list(load.SCENARIOS),
                        help="the request kind sent (bench/load.py's --requests)")
    parser.add_argument("--instructions", type=int, metavar="N",
                        help="count instructions per request under callgrind (N and 2N requests)")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--rounds, --seconds and --rate must be positive")
    for binary in args.binaries:
        if not os.access(binary, os.X_OK):
            parser.error(f"`{binary}` is not an executable file")

    load.ensure_signing_python()
    sys.path[:0] = [str(load.E2E), str(load.E2E.parent)]  # the e2e helpers and tests/harness
    for name in list(os.environ):  # no AWS settings of this machine reach botocore
        if name.upper().startswith(("AWS_", "BOTO_")):
            del os.environ[name]
    from fake_upstream import authorize_ingress_xml
    from support import ALLOWED_INGRESS

    load.ensure_oha()
    load.ensure_wrk()
    nginx = load.ensure_nginx()
    workdir = Path(tempfile.mkdtemp(prefix="eap-ab-"))
    workdir.chmod(0o755)  # nginx workers run as another user
    services: list[load.Service] = []
    try:
        xml = authorize_ingress_xml(ALLOWED_INGRESS, load.REGION, load.UPSTREAM_REQUEST_ID).decode()
        upstream = load.start_nginx(nginx, "upstream", "nginx-upstream.conf.in", workdir, {
            "REQUEST_ID": load.UPSTREAM_REQUEST_ID,
            "BODY": xml.replace("\\", "\\\\").replace("'", "\\'"),
        })
        services.append(upstream)
        if args.instructions:
            if len(load.SCENARIOS[args.request]) != 1:
                parser.error("--instructions takes a single request kind")
            n = args.instructions
            print(f"| build | instructions per request | at start + {n} | at start + {2 * n} |")
            print("|---|--:|--:|--:|")
            for binary in args.binaries:
                once = instructions(binary, workdir, upstream, args.request, n)
                twice = instructions(binary, workdir, upstream, args.request, 2 * n)
                print(f"| `{binary}` | {(twice - once) / n:,.0f} | {once:,} | {twice:,} |", flush=True)
            print(f"\nRequest: {load.SCENARIO_LABELS[args.request]}; one worker, one connection.")
            return 0
        proxies = []
        for i, binary in enumerate(args.binaries):
            home = workdir / f"build-{i}"
            home.mkdir()
            proxy = load.start_proxy(binary.resolve(), home, upstream)
            proxy.name = f"{i}:{binary}"
            services.append(proxy)
            proxies.append(proxy)
            for name in load.request_pairs():
                load.check_one_request(proxy, name)
            load.wrk(proxy, args.request, concurrency=args.concurrency, seconds=1, save=None,
                     workdir=workdir)  # warm-up
        fixed: dict[str, list[float]] = {p.name: [] for p in proxies}
        saturated: dict[str, list[load.Run]] = {p.name: [] for p in proxies}
        for round_ in range(args.rounds):
            for proxy in proxies:
                at_rate = None
                if len(load.SCENARIOS[args.request]) == 1:
                    at_rate = load.oha(proxy, concurrency=args.concurrency, seconds=args.seconds,
                                       rate=args.rate, save=None, request=args.request)
                    fixed[proxy.name].append(at_rate.cpu_us_per_request)
                closed = load.wrk(proxy, args.request, concurrency=args.concurrency,
                                  seconds=args.seconds, save=None, workdir=workdir)
                saturated[proxy.name].append(closed)
                load.log(f"round {round_ + 1}, {proxy.name}: "
                         + (f"{at_rate.cpu_us_per_request:.1f} µs/req at {at_rate.rps:,.0f}/s; " if at_rate else "")
                         + f"{closed.rps:,.0f}/s at {closed.cpu_us_per_request:.1f} µs/req "
                         f"at -c {args.concurrency}")
        print(f"| build | CPU µs/req at {args.rate:,.0f}/s | req/s at -c {args.concurrency} "
              f"| CPU µs/req at -c {args.concurrency} |")
        print("|---|--:|--:|--:|")
        for proxy in proxies:
            runs = saturated[proxy.name]
            at_rate = f"{statistics.median(fixed[proxy.name]):.1f}" if fixed[proxy.name] else "—"
            print(f"| `{proxy.name}` | {at_rate} "
                  f"| {statistics.median(r.rps for r in runs):,.0f} "
                  f"| {statistics.median(r.cpu_us_per_request for r in runs):.1f} |")
        print(f"\nMedians of {args.rounds} interleaved rounds of {args.seconds:g} s runs; "
              f"request: {load.SCENARIO_LABELS[args.request]}.")
    finally:
        for service in reversed(services):
            service.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except load.BenchError as err:
        print(f"[bench] FAILED: {err}", file=sys.stderr)
        sys.exit(1)
