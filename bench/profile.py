#!/usr/bin/env python3
"""Where the proxy's CPU time goes, by stage of the request path, from a
perf profile that `bench/load.py --perf proxy` recorded.

    python3 bench/profile.py bench/results/runs/STAMP/create-proxy-0-throughput.perf.data
    python3 bench/profile.py PERF.DATA --us-per-request 41.5   # also in µs per request
    python3 bench/profile.py PERF.DATA --top 30                 # and the hottest functions

Each sample is put in the stage whose function is on its stack, so time
spent in the allocator, memcpy or the kernel on behalf of a
stage counts for that stage (a `send` of the forwarded request counts for
the upstream exchange, a `writev` of the answer for the HTTP server). The
stages are the phases of `src/proxy/pipeline.rs`, read in order. Samples
under none of them go to the HTTP server (hyper's server, the connection
tasks), the upstream connection (hyper's client task) or the runtime
(tokio's scheduler, epoll). Needs a build with symbols: load.py builds one
when given `--perf proxy`.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys

# (stage, pattern), in the order of the request path: the first stage whose
# pattern matches any frame of a sample takes it. Only the last two nest
# (forwarding serializes and signs first), so the inner one is listed first.
STAGES = [
    ("read the body", r"pipeline::read_body"),
    ("parse the request", r"elasticache_authz_core::request::(parse|check_message)"),
    ("verify the caller's SigV4 (hashing)", r"elasticache_authz_core::auth::"),
    ("decide", r"::is_authorized|elasticache_authz_core::decision::|needs_resource_tags"),
    ("audit: record the request", r"RequestRecord::set_|audit::ParamsSeen"),
    ("audit: render and write the line", r"RequestRecord::line|audit::AuditLine|proxy::audit::Audit"),
    ("metrics", r"proxy::metrics::"),
    ("serialize and re-sign the forwarded request", r"upstream::build_signed_request"),
    ("upstream exchange (send, wait, read)", r"upstream::Upstream::forward"),
]
# Samples under no stage: checked in this order, anywhere on the stack.
REST = [
    ("upstream connection (hyper's client task)", r"dispatch::Client|hyper_util::client|hyper::client"),
    ("request glue (pipeline, rescue, response)", r"proxy::pipeline::"),
    ("HTTP server (hyper, connection I/O)", r"dispatch::Server|proxy::connection::|proxy::listener::"),
    ("runtime (tokio scheduler, epoll, timers)", r"tokio::|mio::|epoll"),
]
OTHER = "other (kernel interrupts, threads outside the runtime)"


def samples(perf_data: str):
    """Each sample's frames, root first."""
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "comm,ip,sym,dso"],
                         capture_output=True, text=True, check=True).stdout
    frames: list[str] = []
    for line in out.splitlines():
        if line.startswith(("\t", " ")):
            parts = line.split(None, 1)
            if len(parts) == 2:
                frames.append(parts[1])
        elif line.strip():
            if frames:
                yield frames[::-1]
            frames = []
    if frames:
        yield frames[::-1]


def stage_of(frames: list[str], stages, rest) -> str:
    for stage, pattern in stages + rest:
        if any(pattern.search(frame) for frame in frames):
            return stage
    return OTHER


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("perf_data")
    parser.add_argument("--us-per-request", type=float,
                        help="the run's CPU µs per request (load.py logs it), to turn shares into µs")
    parser.add_argument("--top", type=int, default=0, help="also list the N hottest leaf functions")
    args = parser.parse_args()
    stages = [(name, re.compile(p)) for name, p in STAGES]
    rest = [(name, re.compile(p)) for name, p in REST]
    counts: collections.Counter[str] = collections.Counter()
    kernel: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for frames in samples(args.perf_data):
        total += 1
        stage = stage_of(frames, stages, rest)
        counts[stage] += 1
        # The sample was taken in the kernel (a system call, an interrupt).
        kernel[stage] += "[kernel.kallsyms]" in frames[-1]
        leaves[re.sub(r"<.*| \(.*", "", frames[-1])[:90]] += 1
    if not total:
        print("no samples", file=sys.stderr)
        return 1
    us = args.us_per_request
    print(f"| stage | share of samples | of which in the kernel |{' µs per request |' if us else ''}")
    print(f"|---|--:|--:|{'--:|' if us else ''}")
    for name in [n for n, _ in STAGES] + [n for n, _ in REST] + [OTHER]:
        share = counts[name] / total
        print(f"| {name} | {share * 100:.1f}% | {kernel[name] / total * 100:.1f}% |"
              + (f" {share * us:.1f} |" if us else ""))
    print(f"| all | 100% | {sum(kernel.values()) / total * 100:.1f}% |" + (f" {us:g} |" if us else ""))
    print(f"\n{total:,} samples" + (f"; {us:g} µs of CPU per request in all" if us else ""))
    if args.top:
        print("\n| hottest leaf functions | share |\n|---|--:|")
        for name, n in leaves.most_common(args.top):
            print(f"| `{name}` | {n / total * 100:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
