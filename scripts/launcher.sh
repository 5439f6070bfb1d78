#!/bin/sh
# bin/trainguard of the self-contained build (npm run dist): runs trainguard's bundled code on its
# own Node.js runtime, with `exec`, so that trainguard itself is PID 1 and no shell stays in between.
#
# Nothing of it reaches the algorithm: PATH is not changed (the runtime is called by its full path,
# the image's own `node`, if any, stays the algorithm's `node`), and NODE_OPTIONS, meant for the
# user's Node, is moved aside so it does not configure trainguard's runtime (--require, --inspect,
# --max-old-space-size ...); trainguard's first line puts it back for the algorithm.
# --disable-sigusr1: SIGUSR1 must never start an inspector in PID 1.
self=$0
if [ -L "$self" ]; then self=$(readlink -f "$self"); fi
case $self in */*) bin=${self%/*} ;; *) bin=. ;; esac
root=$(cd "$bin/.." && pwd -P) || exit 126
if [ -n "${NODE_OPTIONS+set}" ]; then
  TRAINGUARD_LAUNCHER_NODE_OPTIONS=$NODE_OPTIONS
  export TRAINGUARD_LAUNCHER_NODE_OPTIONS
  unset NODE_OPTIONS
fi
exec "$root/runtime/node" --disable-sigusr1 "$root/lib/cli/entry.js" "$@"
