#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each one for FUZZ_SECONDS
# (default 10) from its committed seeds; fails if any target crashes, panics
# or hangs. See fuzz/README.md.
#
# Stable Rust is enough: the targets are built without a sanitizer
# (`--sanitizer none`), the one part of cargo-fuzz that needs nightly. The
# crate forbids unsafe code, so what the fuzzer hunts for here are panics,
# broken invariants and hangs, which need no sanitizer; coverage guidance
# (SanitizerCoverage) works on stable.
#
#   FUZZ_SECONDS=300 scripts/fuzz.sh            # longer runs, every target
#   FUZZ_SECONDS=300 scripts/fuzz.sh policy_loader
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds="${FUZZ_SECONDS:-10}"
# libFuzzer reads 0 as "no limit": every run here stops by itself.
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || {
  echo "fuzz: FUZZ_SECONDS must be a positive number of seconds, not \`$seconds\`" >&2
  exit 2
}
tools="$PWD/.tools"
export PATH="$tools/bin:$PATH"

# The pinned cargo-fuzz, installed once into the git-ignored .tools/.
if ! cargo-fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$tools" --quiet
fi

cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo fuzz build --sanitizer none

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for target in "${targets[@]}"; do
  # New inputs go to a scratch corpus; the seeds in git stay as committed.
  mkdir -p "$work/$target"
  log="$work/$target.log"
  echo "fuzz: $target for ${seconds}s"
  if cargo fuzz run --sanitizer none "$target" "$work/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    # The first and last coverage lines show the search getting somewhere.
    grep -E '(INITED|DONE) +cov' "$log" || true
    passed=$((passed + 1))
  else
    tail -n 80 "$log"
    echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/ (see fuzz/README.md)" >&2
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
