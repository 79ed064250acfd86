#!/usr/bin/env bash
# Builds deploy/Dockerfile and runs the image's `--version`, `check` and
# `test` on the shipped policies, where this machine can: a Docker daemon,
# and the base images pullable. Where it cannot, it says so and exits 0:
# the Dockerfile is still checked for syntax and layout by tests/deploy.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="elasticache-authz-proxy:ci-$$"
bases=(rust:1.95-bookworm gcr.io/distroless/cc-debian12:nonroot)

if ! docker info >/dev/null 2>&1; then
  echo "docker-check: no Docker daemon here; deploy/Dockerfile is checked for syntax only (tests/deploy)"
  exit 0
fi
for base in "${bases[@]}"; do
  if ! docker pull --quiet "$base" >/dev/null 2>&1; then
    echo "docker-check: cannot pull \`$base\` (no registry access); deploy/Dockerfile is checked for syntax only (tests/deploy)"
    exit 0
  fi
done
trap 'docker image rm -f "$tag" >/dev/null 2>&1 || true' EXIT
DOCKER_BUILDKIT=1 docker build --quiet -f deploy/Dockerfile -t "$tag" . >/dev/null
docker run --rm "$tag" --version
docker run --rm "$tag" check --policy /usr/share/elasticache-authz-proxy/policies/example.yaml --deny-warnings
docker run --rm "$tag" test /usr/share/elasticache-authz-proxy/policies/tests
echo "docker-check: the image builds and runs"
