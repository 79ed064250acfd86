#!/usr/bin/env bash
# Try the proxy locally, with real parts and no AWS account: moto's server
# (pinned, from PyPI, into the project's venv) plays ElastiCache, the proxy
# runs in front of it with the shipped VPC-era policy (policies/vpc-team.yaml)
# and a callers file, and the aws CLI calls through it as the caller
# `payments-deployer`: one CreateReplicationGroup the policy allows, one it
# denies (a security group the policy does not allow). Then the audit lines
# of both and the decision counters from /metrics.
#
#   scripts/try.sh          run the demo, stop everything, exit 0 if it went as shown
#   scripts/try.sh --keep   then leave moto and the proxy running until Ctrl-C
#
# Environment: VENV (default .venv), PROXY_BIN (a built proxy; default: build
# it with cargo), CARGO_TARGET_DIR. Everything listens on 127.0.0.1 only, on
# free ports; config, callers and audit files live in a temporary folder that
# is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

keep=false
case "${1:-}" in
  "") ;;
  --keep) keep=true ;;
  *) echo "usage: scripts/try.sh [--keep]" >&2; exit 2 ;;
esac

if [ -t 1 ]; then
  say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi

# ---- the parts: the venv with moto and the aws CLI, the proxy binary ----------
venv="${VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  say "creating the Python venv $venv"
  python3 -m venv "$venv"
fi
# Every pin (moto[server], awscli, boto3) is in this one file.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
py="$venv/bin/python"
aws="$venv/bin/aws"

if [ -n "${PROXY_BIN:-}" ]; then
  bin=$PROXY_BIN
else
  if ! command -v cargo >/dev/null; then
    echo "try.sh: cargo not found: install a Rust toolchain (1.94 or newer), or set PROXY_BIN to a built proxy" >&2
    exit 1
  fi
  say "building the proxy (the first build takes a few minutes)"
  cargo build --locked --quiet
  bin="${CARGO_TARGET_DIR:-$repo/target}/debug/elasticache-authz-proxy"
fi
[ -x "$bin" ] || { echo "try.sh: no proxy binary at $bin" >&2; exit 1; }

# ---- a temporary folder, and cleanup of everything started here ---------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/elasticache-authz-try.XXXXXX")
moto_pid=""
proxy_pid=""
cleanup() {
  for pid in $proxy_pid $moto_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits until 127.0.0.1:$2 accepts connections, while process $1 lives.
wait_for_port() {
  local pid=$1 port=$2 name=$3 log=$4
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "try.sh: $name exited before listening; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "try.sh: $name did not listen on 127.0.0.1:$port within 30s; its log:" >&2
  cat "$log" >&2
  exit 1
}

moto_port=$(free_port)
proxy_port=$(free_port)
admin_port=$(free_port)
while [ "$admin_port" = "$proxy_port" ] || [ "$admin_port" = "$moto_port" ] || [ "$proxy_port" = "$moto_port" ]; do
  proxy_port=$(free_port)
  admin_port=$(free_port)
done

# ---- moto: a local ElastiCache ----------------------------------------------------
env -i PATH="$PATH" HOME="$tmp" "$py" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$tmp/moto.log" 2>&1 &
moto_pid=$!

# ---- the proxy: the VPC-era policy, a callers file, audit to a file -----------------
# The caller's key pair: the proxy knows it from the callers file (which must
# be private to its owner), the aws CLI from the environment. Its `team` tag
# is what the policy's rules check as ${caller.tags.team}.
access_key=AKIDTRYPAYMENTS00001
secret_key=$("$py" -c 'import secrets; print(secrets.token_urlsafe(30))')
(
  umask 077
  cat >"$tmp/callers.yaml" <<EOF
callers:
  - name: payments-deployer
    access_key_id: $access_key
    secret_access_key: "$secret_key"
    tags: {team: payments}
EOF
)
chmod 600 "$tmp/callers.yaml"
cat >"$tmp/proxy.yaml" <<EOF
listen: "127.0.0.1:$proxy_port"
admin_listen: "127.0.0.1:$admin_port"
policy: "$repo/policies/vpc-team.yaml"
callers: "callers.yaml"
audit_log: "audit.log"
account_id: "123456789012"    # moto's account: the ARNs of resource_tags lookups
upstream:
  endpoint: "http://127.0.0.1:$moto_port"
EOF
# The proxy's own AWS identity, which it signs forwarded requests with;
# moto takes any.
env -i PATH="$PATH" HOME="$tmp" AWS_EC2_METADATA_DISABLED=true \
  AWS_ACCESS_KEY_ID=AKIDTRYPROXY00000001 AWS_SECRET_ACCESS_KEY=try/Proxy+Secret/0123456789abcdefghij \
  "$bin" serve --config "$tmp/proxy.yaml" >"$tmp/proxy.log" 2>&1 &
proxy_pid=$!

wait_for_port "$moto_pid" "$moto_port" "moto" "$tmp/moto.log"
wait_for_port "$proxy_pid" "$proxy_port" "the proxy" "$tmp/proxy.log"
wait_for_port "$proxy_pid" "$admin_port" "the proxy's admin listener" "$tmp/proxy.log"

# The aws CLI sees nothing of this machine's AWS setup: only the caller's keys.
: >"$tmp/aws-config"
cli_env=(env -i PATH="$PATH" HOME="$tmp" LANG=C.UTF-8 AWS_PAGER="" AWS_DEFAULT_OUTPUT=json
  AWS_CONFIG_FILE="$tmp/aws-config" AWS_SHARED_CREDENTIALS_FILE="$tmp/aws-config"
  AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1
  AWS_ACCESS_KEY_ID="$access_key" AWS_SECRET_ACCESS_KEY="$secret_key")
# Prints an aws command as one would type it, an option a line, then runs it
# as the caller.
run_aws() {
  local line='$ aws' arg
  for arg in "$@"; do
    case $arg in
      --*) line+=$' \\\n    ' ;;
      *) line+=' ' ;;
    esac
    if [[ $arg =~ ^[A-Za-z0-9_./:=@,+-]+$ ]]; then line+=$arg; else line+="'$arg'"; fi
  done
  printf '%s\n' "$line"
  "${cli_env[@]}" "$aws" "$@"
}
endpoint="http://127.0.0.1:$proxy_port"
target=(--endpoint-url "$endpoint" --region eu-west-1)
create=(--engine redis --cache-node-type cache.r7g.large --num-cache-clusters 2
  --cache-subnet-group-name payments-private --transit-encryption-enabled --at-rest-encryption-enabled
  --tags "Key=team,Value=payments")

say "moto (a local ElastiCache) listens on 127.0.0.1:$moto_port"
say "the proxy listens on $endpoint with policies/vpc-team.yaml; the aws CLI calls it as payments-deployer"

# ---- 1. allowed ------------------------------------------------------------------------
say "1. allowed: an encrypted replication group in the payments security groups"
allowed_ok=true
run_aws elasticache create-replication-group "${target[@]}" --replication-group-id payments-orders \
  --replication-group-description orders "${create[@]}" \
  --security-group-ids sg-0a1b2c3d4e5f60001 sg-0a1b2c3d4e5f60002 \
  --query 'ReplicationGroup.{Id: ReplicationGroupId, Status: Status, Transit: TransitEncryptionEnabled, AtRest: AtRestEncryptionEnabled}' ||
  allowed_ok=false

# ---- 2. denied -------------------------------------------------------------------------
say "2. denied: the same, with a security group the policy does not allow (sg-0badc0ffee0000bad)"
denied_status=0
run_aws elasticache create-replication-group "${target[@]}" --replication-group-id payments-sessions \
  --replication-group-description sessions "${create[@]}" \
  --security-group-ids sg-0a1b2c3d4e5f60001 sg-0badc0ffee0000bad 2>"$tmp/denied.err" || denied_status=$?
cat "$tmp/denied.err"
echo "(the aws CLI exited with $denied_status)"

# ---- 3. the audit log ---------------------------------------------------------------------
say "3. the audit log: one JSON line per request, the denial with its full reason"
cat "$tmp/audit.log"

# ---- 4. the counters ------------------------------------------------------------------------
say "4. the decision counters from http://127.0.0.1:$admin_port/metrics"
"$py" - "$admin_port" <<'EOF'
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
text = opener.open(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode()
for line in text.splitlines():
    if line.startswith("elasticache_authz_proxy_requests_total{"):
        print(line)
EOF

# ---- did it go as shown? -----------------------------------------------------------------------
if ! $allowed_ok; then
  echo "try.sh: the allowed CreateReplicationGroup failed; the proxy's log:" >&2
  cat "$tmp/proxy.log" >&2
  exit 1
fi
if [ "$denied_status" = 0 ] || ! grep -q "InvalidParameterCombination" "$tmp/denied.err"; then
  echo "try.sh: the second CreateReplicationGroup was not denied by the policy" >&2
  exit 1
fi

if $keep; then
  say "still running; in another shell, as payments-deployer:"
  printf 'export AWS_ACCESS_KEY_ID=%q AWS_SECRET_ACCESS_KEY=%q AWS_ENDPOINT_URL_ELASTICACHE=%q AWS_DEFAULT_REGION=eu-west-1\n' \
    "$access_key" "$secret_key" "$endpoint"
  printf '%q elasticache describe-replication-groups\n' "$aws"
  echo "audit log: $tmp/audit.log   metrics: http://127.0.0.1:$admin_port/metrics   Ctrl-C stops moto and the proxy"
  wait "$proxy_pid" || true
fi
say "done; stopping moto and the proxy, removing $tmp"
