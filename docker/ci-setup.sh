#!/usr/bin/env bash
# Everything the container tests (test/docker) need, on a Debian 12 machine, as root, with no
# container registry: a Docker engine, an offline base OS image, the trainguard image built from
# this checkout, and the example images. Idempotent: a second run only rebuilds what changed.
#
#   bash docker/ci-setup.sh
#
# Images: trainguard-os:bookworm (debootstrap minbase + python3 + the host's node),
# trainguard:local (docker/Dockerfile), trainguard-example-*:local (examples/*).
# Environment: TRAINGUARD_ROOTFS_CACHE (default /var/cache/trainguard-rootfs),
# TRAINGUARD_DOCKERD_LOG (default /var/log/trainguard-dockerd.log), DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."

OS_IMAGE=trainguard-os:bookworm
IMAGE=trainguard:local
# example dir : image (examples/node-train uses the library's runTraining).
EXAMPLES=(
  "python-train:trainguard-example-python:local"
  "shell-ignore-term:trainguard-example-shell:local"
  "node-train:trainguard-example-node:local"
)
ROOTFS_CACHE=${TRAINGUARD_ROOTFS_CACHE:-/var/cache/trainguard-rootfs}
ROOTFS="$ROOTFS_CACHE/bookworm"
DOCKERD_LOG=${TRAINGUARD_DOCKERD_LOG:-/var/log/trainguard-dockerd.log}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DOCKER_BUILDKIT=0 DEBIAN_FRONTEND=noninteractive

TIMINGS=()
STEP_NAME=""
STEP_START=0
SETUP_START=$(date +%s%N)
step() {
  end_step
  STEP_NAME=$1
  STEP_START=$(date +%s%N)
  printf '\n== docker setup: %s\n' "$1"
}
end_step() {
  [ -n "$STEP_NAME" ] || return 0
  local ms=$(( ($(date +%s%N) - STEP_START) / 1000000 ))
  TIMINGS+=("$(printf '%6d.%01ds  %s' $((ms / 1000)) $((ms % 1000 / 100)) "$STEP_NAME")")
  printf '   (%d.%01ds)\n' $((ms / 1000)) $((ms % 1000 / 100))
  STEP_NAME=""
}
say() { printf '   %s\n' "$*"; }
die() { printf 'docker/ci-setup.sh: %s\n' "$*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (run as root, or do it by hand: see docker/README.md)"; }

# --- 1. packages ------------------------------------------------------------------------------
step "Debian packages (docker.io, debootstrap, procps)"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v ps >/dev/null || missing+=(procps)          # `docker top` runs ps on the host
command -v setsid >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  need_root "installing ${missing[*]}"
  say "installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "present"
fi

# --- 2. engine --------------------------------------------------------------------------------
step "Docker engine"
if docker info >/dev/null 2>&1; then
  say "running"
else
  need_root "starting dockerd"
  # No registry and no NAT here: containers use --network host or none.
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  say "starting dockerd --iptables=false --bridge=none (log: $DOCKERD_LOG)"
  setsid -f dockerd --iptables=false --bridge=none >>"$DOCKERD_LOG" 2>&1 </dev/null
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -n 30 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 60 s (log above)"; }
fi
say "$(docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}')"

# --- 3. offline OS image ----------------------------------------------------------------------
step "base OS image $OS_IMAGE"
node_bin=$(readlink -f "$(command -v node)")
node_version=$("$node_bin" --version)
os_node=$(docker image inspect --format '{{index .Config.Labels "org.trainguard.node"}}' "$OS_IMAGE" 2>/dev/null || true)
if [ "$os_node" = "$node_version" ]; then
  say "present (node $node_version)"
else
  need_root "building $OS_IMAGE"
  if [ ! -f "$ROOTFS/.trainguard-debootstrap-done" ]; then
    say "debootstrap --variant=minbase --include=python3 bookworm $ROOTFS (about 2 minutes)"
    rm -rf "$ROOTFS" "$ROOTFS.partial"
    mkdir -p "$ROOTFS_CACHE"
    t0=$(date +%s)
    debootstrap --variant=minbase --include=python3 bookworm "$ROOTFS.partial" "$DEBIAN_MIRROR" \
      >"$ROOTFS_CACHE/debootstrap.log" 2>&1 \
      || { tail -n 30 "$ROOTFS_CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $ROOTFS_CACHE/debootstrap.log)"; }
    # Package caches and documentation are of no use in a container.
    rm -rf "$ROOTFS.partial"/var/cache/apt/*.bin "$ROOTFS.partial"/var/cache/apt/archives/*.deb \
      "$ROOTFS.partial"/var/lib/apt/lists/* "$ROOTFS.partial"/usr/share/man/* "$ROOTFS.partial"/usr/share/info/* \
      "$ROOTFS.partial"/usr/share/locale/*
    touch "$ROOTFS.partial/.trainguard-debootstrap-done"
    mv "$ROOTFS.partial" "$ROOTFS"
    say "debootstrap took $(( $(date +%s) - t0 ))s"
  else
    say "reusing the debootstrap tree in $ROOTFS"
  fi
  # The host's node, a NodeSource or Debian build linked against glibc: check the libraries it
  # needs are in the tree, then run it there.
  for lib in $(ldd "$node_bin" | awk '/=>/ { print $1 }'); do
    found=$(find "$ROOTFS/lib" "$ROOTFS/usr/lib" -maxdepth 2 -name "$lib" -print -quit 2>/dev/null)
    [ -n "$found" ] || die "node needs $lib, which the bookworm tree does not have"
  done
  install -m 0755 "$node_bin" "$ROOTFS/usr/local/bin/node"
  env -u NODE_EXTRA_CA_CERTS chroot "$ROOTFS" /usr/local/bin/node -e 'process.stdout.write(`   node ${process.version} runs in the tree\n`)'
  tar -C "$ROOTFS" --exclude=./.trainguard-debootstrap-done -c . \
    | docker import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' \
        -c "LABEL org.trainguard.node=$node_version" \
        -c 'CMD ["/bin/bash"]' \
        - "$OS_IMAGE" >/dev/null
  say "imported $OS_IMAGE (node $node_version)"
fi

# --- 4. trainguard image ----------------------------------------------------------------------
step "trainguard image $IMAGE (npm run build, npm pack, production node_modules, docker build)"
bash docker/build-image.sh "$OS_IMAGE" "$IMAGE"

# --- 5. example images ------------------------------------------------------------------------
for entry in "${EXAMPLES[@]}"; do
  dir=${entry%%:*}
  tag=${entry#*:}
  step "example image $tag (examples/$dir)"
  log=$(mktemp)
  if ! docker build --network none --force-rm --build-arg "BASE=$IMAGE" -t "$tag" "examples/$dir" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "docker build of examples/$dir failed (log above)"
  fi
  rm -f "$log"
  say "built $tag"
done

# Earlier builds of our images, now untagged: remove them, and nothing else.
docker image prune -f --filter label=org.trainguard.image >/dev/null
end_step

total_ms=$(( ($(date +%s%N) - SETUP_START) / 1000000 ))
printf '\n== docker setup: done in %d.%01ds\n' $((total_ms / 1000)) $((total_ms % 1000 / 100))
printf '%s\n' "${TIMINGS[@]}"
