#!/usr/bin/env bash
# Build the trainguard base image from this checkout, with no network during `docker build`.
#
#   docker/build-image.sh [BASE_IMAGE [TAG]]      defaults: node:22-slim trainguard:local
#
# On the host: `npm run build`, `npm pack`, and the package's production dependencies installed
# from this project's lockfile (`npm ci --omit=dev`, served from the npm cache when it can) into a
# temporary build context next to the packed tarball. `docker build --network none` then only
# unpacks and copies. Rebuilds are skipped when the package, lockfile, Dockerfile and base image
# are all unchanged (label org.trainguard.source on the image).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${1:-${TRAINGUARD_BASE_IMAGE:-node:22-slim}}
TAG=${2:-${TRAINGUARD_IMAGE:-trainguard:local}}
# bookworm's docker.io has no buildx; the classic builder needs no extra component anywhere.
export DOCKER_BUILDKIT=0

say() { printf '   %s\n' "$*"; }
# timed LABEL COMMAND...: run it, then print how long it took.
timed() {
  local label=$1 start=$(date +%s%N)
  shift
  "$@"
  local ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf '   %-46s %4d.%01ds\n' "$label" $((ms / 1000)) $((ms % 1000 / 100))
}

if [ ! -x node_modules/.bin/tsc ]; then
  timed "npm ci (no node_modules; tsc needs the dev deps)" npm ci --no-audit --no-fund --loglevel=error
fi
timed "npm run build" npm run build --silent

work=$(mktemp -d "${TMPDIR:-/tmp}/trainguard-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
pack() { npm pack --silent --pack-destination "$work" >/dev/null; }
timed "npm pack" pack
tgz=$(cd "$work" && ls -- *.tgz 2>/dev/null | head -n 1)
[ -n "$tgz" ] || { echo "build-image: npm pack did not produce a tarball" >&2; exit 1; }

base_id=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || echo "$BASE_IMAGE")
source_id=$(cat "$work/$tgz" package-lock.json docker/Dockerfile <(echo "$base_id") | sha256sum | cut -d' ' -f1)
current=$(docker image inspect --format '{{index .Config.Labels "org.trainguard.source"}}' "$TAG" 2>/dev/null || true)
if [ "$current" = "$source_id" ]; then
  say "$TAG is up to date ($tgz, package-lock.json, Dockerfile and $BASE_IMAGE unchanged)"
  exit 0
fi

# Build context: the packed package as it is (the Dockerfile unpacks it) and its production
# node_modules, installed from the lockfile next to the package's own package.json.
context="$work/context"
deps="$work/deps"
mkdir -p "$context" "$deps"
cp "$work/$tgz" "$context/trainguard.tgz"
tar -xzf "$work/$tgz" -C "$work" package/package.json
cp "$work/package/package.json" package-lock.json "$deps/"
install_deps() { (cd "$deps" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null); }
timed "npm ci --omit=dev (production node_modules)" install_deps
mv "$deps/node_modules" "$context/node_modules"
# Readable by any user in the image (npm keeps the modes packages ship); fixed here, not in a layer.
chmod -R u+rwX,go+rX,go-w "$context/node_modules"
say "build context: $(du -sh "$context" | cut -f1)"

build() {
  docker build --network none --force-rm \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --label "org.trainguard.source=$source_id" \
    -t "$TAG" -f docker/Dockerfile "$context" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; echo "build-image: docker build of $TAG failed (log above)" >&2; return 1; }
}
timed "docker build --network none" build
say "built $TAG from $tgz on $BASE_IMAGE: $(docker image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
