#!/usr/bin/env bash
# Everything the container tests (test/docker) need, on a Debian 12 machine, as root, with no
# container registry: a Docker engine, an offline base OS image, the trainguard image built from
# this checkout, and the example images. Idempotent: a second run only rebuilds what changed.
#
#   bash docker/ci-setup.sh
#
# Images: trainguard-os:bookworm (debootstrap minbase + python3 + the host's node),
# trainguard-os:{bookworm,bullseye}-no-node (the same without node), trainguard:local
# (docker/Dockerfile), trainguard-dist:local (docker/Dockerfile.dist: the self-contained build
# alone), trainguard-example-*:{local,bullseye} (examples/*).
# Environment: TRAINGUARD_ROOTFS_CACHE (default /var/cache/trainguard-rootfs),
# TRAINGUARD_DOCKERD_LOG (default /var/log/trainguard-dockerd.log), DEBIAN_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."

OS_IMAGE=trainguard-os:bookworm
# Debian releases imported without node as trainguard-os:<release>-no-node.
PLAIN_RELEASES=(bookworm bullseye)
IMAGE=trainguard:local
DIST_IMAGE=trainguard-dist:local
# examples/<dir>, image, base (and the build network, where the build needs one). Non-Node examples are FROM a plain base and add the self-contained
# trainguard with one COPY; examples/node-train (the library's runTraining) is FROM the Node base.
EXAMPLES=(
  "python-train      trainguard-example-python:local   trainguard-os:bookworm-no-node"
  "python-train      trainguard-example-python:bullseye trainguard-os:bullseye-no-node"
  "shell-ignore-term trainguard-example-shell:local    trainguard-os:bookworm-no-node"
  "node-train        trainguard-example-node:local     $IMAGE"
  "pytorch-train     trainguard-example-pytorch:local  trainguard-os:bookworm-no-node host"
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

# --- 3. offline OS images --------------------------------------------------------------------
# debootstrap_tree RELEASE: a minbase Debian tree with python3 in $ROOTFS_CACHE/RELEASE, made once
# and reused (minutes cold; Debian's mirror is the only network it needs).
debootstrap_tree() {
  local release=$1 rootfs="$ROOTFS_CACHE/$1"
  if [ -f "$rootfs/.trainguard-debootstrap-done" ]; then
    say "reusing the debootstrap tree in $rootfs"
    return 0
  fi
  need_root "debootstrap of $release"
  say "debootstrap --variant=minbase --include=python3 $release $rootfs (about 2 minutes)"
  rm -rf "$rootfs" "$rootfs.partial"
  mkdir -p "$ROOTFS_CACHE"
  local t0 log="$ROOTFS_CACHE/debootstrap-$release.log"
  t0=$(date +%s)
  debootstrap --variant=minbase --include=python3 "$release" "$rootfs.partial" "$DEBIAN_MIRROR" >"$log" 2>&1 \
    || { tail -n 30 "$log" >&2; die "debootstrap of $release failed (log: $log)"; }
  # Package caches and documentation are of no use in a container.
  rm -rf "$rootfs.partial"/var/cache/apt/*.bin "$rootfs.partial"/var/cache/apt/archives/*.deb \
    "$rootfs.partial"/var/lib/apt/lists/* "$rootfs.partial"/usr/share/man/* "$rootfs.partial"/usr/share/info/* \
    "$rootfs.partial"/usr/share/locale/*
  touch "$rootfs.partial/.trainguard-debootstrap-done"
  mv "$rootfs.partial" "$rootfs"
  say "debootstrap of $release took $(( $(date +%s) - t0 ))s"
}

# import_tree RELEASE IMAGE LABEL [tar options...]: the tree as an image, labelled org.trainguard.os=LABEL.
import_tree() {
  local rootfs="$ROOTFS_CACHE/$1" image=$2 label=$3
  shift 3
  tar -C "$rootfs" --exclude=./.trainguard-debootstrap-done "$@" -c . \
    | docker import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' \
        -c "LABEL org.trainguard.os=\"$label\"" \
        -c 'CMD ["/bin/bash"]' \
        - "$image" >/dev/null
  say "imported $image ($label)"
}

image_label() { docker image inspect --format '{{index .Config.Labels "org.trainguard.os"}}' "$1" 2>/dev/null || true; }

# The plain bases' trees other than bookworm's are made in the background, while the bookworm
# images build: on a cold machine bullseye's debootstrap takes minutes of its own.
declare -A BACKGROUND=()
for release in "${PLAIN_RELEASES[@]}"; do
  if [ "$release" != bookworm ] && [ -z "$(image_label "trainguard-os:$release-no-node")" ] \
    && [ ! -f "$ROOTFS_CACHE/$release/.trainguard-debootstrap-done" ]; then
    mkdir -p "$ROOTFS_CACHE"
    debootstrap_tree "$release" >"$ROOTFS_CACHE/background-$release.log" 2>&1 &
    BACKGROUND[$release]=$!
  fi
done

step "base OS image $OS_IMAGE"
node_bin=$(readlink -f "$(command -v node)")
node_version=$("$node_bin" --version)
if [ "$(image_label "$OS_IMAGE")" = "bookworm, node $node_version" ]; then
  say "present (node $node_version)"
else
  debootstrap_tree bookworm
  # The host's node, a NodeSource or Debian build linked against glibc: check the libraries it
  # needs are in the tree, then run it there.
  for lib in $(ldd "$node_bin" | awk '/=>/ { print $1 }'); do
    found=$(find "$ROOTFS/lib" "$ROOTFS/usr/lib" -maxdepth 2 -name "$lib" -print -quit 2>/dev/null)
    [ -n "$found" ] || die "node needs $lib, which the bookworm tree does not have"
  done
  install -m 0755 "$node_bin" "$ROOTFS/usr/local/bin/node"
  env -u NODE_EXTRA_CA_CERTS chroot "$ROOTFS" /usr/local/bin/node -e 'process.stdout.write(`   node ${process.version} runs in the tree\n`)'
  import_tree bookworm "$OS_IMAGE" "bookworm, node $node_version"
fi

# --- 4. trainguard images ---------------------------------------------------------------------
step "trainguard image $IMAGE (npm run build, npm pack, production node_modules, docker build)"
bash docker/build-image.sh "$OS_IMAGE" "$IMAGE"

step "self-contained trainguard image $DIST_IMAGE (npm run dist, docker build FROM scratch)"
bash docker/build-dist-image.sh "$DIST_IMAGE"

# The plain bases of training images that have Python and no Node; bullseye (glibc 2.31) is the
# oldest Debian the self-contained build is checked on (its runtime needs glibc 2.28).
for release in "${PLAIN_RELEASES[@]}"; do
  image="trainguard-os:$release-no-node"
  step "base OS image $image (python3, no node)"
  if [ -n "$(image_label "$image")" ]; then
    say "present"
    continue
  fi
  if [ -n "${BACKGROUND[$release]:-}" ]; then
    wait "${BACKGROUND[$release]}" || { cat "$ROOTFS_CACHE/background-$release.log" >&2; die "debootstrap of $release failed (log above)"; }
    cat "$ROOTFS_CACHE/background-$release.log"
  fi
  debootstrap_tree "$release"
  import_tree "$release" "$image" "$release, no node" --exclude=./usr/local/bin/node
  if docker run --rm --network none "$image" sh -c 'command -v node' >/dev/null; then die "$image has a node on PATH"; fi
done

# --- 5. example images ------------------------------------------------------------------------
for entry in "${EXAMPLES[@]}"; do
  # The fourth column, when present, is the build's network: pytorch-train runs apt-get inside its build.
  read -r dir tag base network <<<"$entry"
  step "example image $tag (examples/$dir FROM $base)"
  log=$(mktemp)
  # Labelled so that a rebuild's untagged predecessor is pruned below (a plain base has no label to inherit).
  if ! docker build --network "${network:-none}" --force-rm --build-arg "BASE=$base" --label org.trainguard.image=example -t "$tag" "examples/$dir" >"$log" 2>&1; then
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
