#!/usr/bin/env bash
# Runs every test: the Rust unit and property tests, the shipped policies'
# checks and tests, then the end-to-end suite, in which boto3 and the aws CLI
# talk to the running proxy in front of a local upstream that checks each
# forwarded signature with botocore's signer, and the deployment checks.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r tests/e2e/requirements.txt -r tests/deploy/requirements.txt

# --all-targets also runs each criterion benchmark once, as a test.
cargo test --locked --workspace --all-targets
cargo build --locked
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/elasticache-authz-proxy"

# The shipped policies: no errors, no warnings, and their own tests pass.
for policy in policies/*.yaml; do
  "$bin" check --deny-warnings --policy "$policy"
done
"$bin" test policies/

# The service model (core/model/) against what scripts/gen_model.py makes
# from the pinned botocore, the end-to-end suite, then the deployment files
# (manifests, image, unit, alerts and dashboard) checked against the same
# binary. Two pytest-xdist workers: the tests mostly wait on the proxy and
# its upstreams, and each has its own ports and folders. --durations lists
# the slowest tests, to show where the time goes.
PROXY_BIN="$bin" "$venv/bin/python" -m pytest tests/model tests/e2e tests/deploy -q -p no:cacheprovider \
  -n 2 --durations=15
