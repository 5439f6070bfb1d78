#!/usr/bin/env bash
# Build the image that holds only the self-contained trainguard (/opt/trainguard), from this checkout.
#
#   docker/build-dist-image.sh [TAG]          default: trainguard-dist:local
#
# `npm run dist` writes release/trainguard-<version>-linux-x64/ (the npm registry is the only network
# it needs, once); `docker build --network none` then copies that tree into an empty image.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-${TRAINGUARD_DIST_IMAGE:-trainguard-dist:local}}
export DOCKER_BUILDKIT=0

if [ ! -x node_modules/.bin/esbuild ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run dist --silent
version=$(node -p 'require("./package.json").version')
tree="release/trainguard-$version-linux-x64"
[ -x "$tree/bin/trainguard" ] || { echo "build-dist-image: npm run dist did not write $tree/bin/trainguard" >&2; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
docker build --network none --force-rm -t "$TAG" -f docker/Dockerfile.dist "$tree" >"$log" 2>&1 \
  || { cat "$log" >&2; echo "build-dist-image: docker build of $TAG failed (log above)" >&2; exit 1; }
printf '   built %s from %s: %s\n' "$TAG" "$tree" "$(docker image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
