#!/usr/bin/env python3
"""Replay benchmark: how long `replay` takes to decide a large audit log
again under a large policy.

    python3 bench/replay.py                          # 1,000,000 lines, 1,000 rules
    python3 bench/replay.py --lines 100000 --rules 10000 --repeat 3
    python3 bench/replay.py --proxy-bin target/release/elasticache-authz-proxy --gzip

It writes an audit log of version 2 lines, as the proxy writes them: a
30-parameter CreateReplicationGroup of one of the policy's teams, most of
them allowed, one in fifty with a node type the new policy no longer
allows; and a policy of one closed create rule per team (callers, region,
security groups, node types, encryption, name pattern, tag), the shape of
the criterion benchmark's. It then times `replay --json` (wall clock and
the CPU time it used), and checks the counts it reports. A release build
is expected (`cargo build --release`). See bench/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REGIONS = ["us-east-1", "eu-west-1", "ap-south-1", "eu-central-1", "us-west-2"]


def policy(rules: int) -> str:
    out = ["rules:"]
    for team in range(rules):
        region = REGIONS[team % len(REGIONS)]
        out.append(
            f"""  - id: team{team}-create
    effect: allow
    actions: [CreateReplicationGroup]
    callers: [team{team}]
    regions: [{region}]
    params:
      SecurityGroupIds: {{all_in: [sg-{team:08x}a, sg-{team:08x}b, sg-{team:08x}c]}}
      CacheNodeType: {{one_of: [cache.r7g.large]}}
      TransitEncryptionEnabled: {{one_of: [true]}}
      AtRestEncryptionEnabled: {{one_of: [true]}}
      NumCacheClusters: {{range: [1, 6]}}
      ReplicationGroupId: {{matches: "team{team}-[a-z0-9-]+"}}
      Tags: {{tags: {{team: team{team}}}}}
      AuthToken: {{present: false}}"""
        )
    return "\n".join(out) + "\n"


def line(index: int, team: int, node_type: str) -> str:
    region = REGIONS[team % len(REGIONS)]
    params = {
        "ReplicationGroupId": f"team{team}-orders-{index}",
        "ReplicationGroupDescription": "orders cache",
        "CacheNodeType": node_type,
        "Engine": "redis",
        "EngineVersion": "7.1",
        "NumCacheClusters": 3,
        "AutomaticFailoverEnabled": True,
        "MultiAZEnabled": True,
        "CacheParameterGroupName": "default.redis7",
        "CacheSubnetGroupName": f"team{team}-private",
        "SecurityGroupIds": [f"sg-{team:08x}a", f"sg-{team:08x}b", f"sg-{team:08x}c"],
        "Tags": [
            {"Key": "team", "Value": f"team{team}"},
            {"Key": "env", "Value": "prod"},
            {"Key": "cost-center", "Value": f"cc-{team}"},
        ],
        "Port": 6379,
        "PreferredMaintenanceWindow": "sun:05:00-sun:06:00",
        "SnapshotRetentionLimit": 7,
        "SnapshotWindow": "03:00-04:00",
        "AutoMinorVersionUpgrade": True,
        "TransitEncryptionEnabled": True,
        "AtRestEncryptionEnabled": True,
        "KmsKeyId": f"alias/team{team}",
        "NotificationTopicArn": f"arn:aws:sns:{region}:123456781234:team{team}",
        "NetworkType": "ipv4",
        "IpDiscovery": "ipv4",
    }
    return json.dumps(
        {
            "version": 2,
            "time": "2026-12-01T10:00:00.000Z",
            "request_id": f"req-{index}",
            "upstream_request_id": None,
            "source": "127.0.0.1:50000",
            "caller": f"team{team}",
            "auth": "sigv4",
            "action": "CreateReplicationGroup",
            "region": region,
            "decision": "allow",
            "mode": "enforce",
            "rules": [f"team{team}-create"],
            "request": {"params": params, "caller_tags": {}},
            "resource_tags": None,
            "policy_revision": "000000000000",
        },
        separators=(",", ":"),
    )


def write_log(path: Path, lines: int, rules: int, compress: bool) -> int:
    """Writes the log; returns how many lines the new policy denies."""
    changed = 0
    opener = gzip.open if compress else open
    with opener(path, "wt") as out:
        for index in range(lines):
            denied = index % 50 == 0
            changed += denied
            node_type = "cache.r7g.xlarge" if denied else "cache.r7g.large"
            out.write(line(index, index % rules, node_type) + "\n")
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gzip", action="store_true", help="write the log gzip-compressed")
    parser.add_argument("--proxy-bin", default=str(REPO / "target/release/elasticache-authz-proxy"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "policy.yaml").write_text(policy(args.rules))
        log = folder / ("audit.log.gz" if args.gzip else "audit.log")
        started = time.monotonic()
        expected = write_log(log, args.lines, args.rules, args.gzip)
        print(
            f"wrote {args.lines:,} lines ({log.stat().st_size / 2**20:.0f} MiB) in {time.monotonic() - started:.1f} s; "
            f"policy of {args.rules:,} rules; {os.cpu_count()} CPUs",
            file=sys.stderr,
        )
        walls, cpus = [], []
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            result = subprocess.run(
                [args.proxy_bin, "replay", "--policy", str(folder / "policy.yaml"), "--json", str(log)],
                capture_output=True,
                text=True,
            )
            wall = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            assert result.returncode == 1, result.stderr
            report = json.loads(result.stdout)
            assert (report["decided"], report["newly_denied"], report["unreplayable"]) == (args.lines, expected, 0), report
            walls.append(wall)
            cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            print(f"  {wall:.2f} s wall, {cpus[-1]:.2f} s CPU", file=sys.stderr)
        median = statistics.median(walls)
        print(
            f"replay of {args.lines:,} lines against {args.rules:,} rules: {median:.2f} s wall "
            f"({args.lines / median:,.0f} lines/s), {statistics.median(cpus):.2f} s CPU, median of {args.repeat}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
