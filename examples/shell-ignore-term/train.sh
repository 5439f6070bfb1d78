#!/bin/sh
# An algorithm that ignores SIGTERM, as many real ones do (a shell PID 1, a framework that swallows
# signals, a save loop that never checks). It checkpoints every `checkpoint_interval` seconds into
# $SM_CHECKPOINT_DIR/step-N/ and, left alone, finishes after `steps` steps: it writes
# $SM_MODEL_DIR/state.txt and exits 0. A stop never shortens that: only trainguard's SIGKILL does.
#
# Hyperparameters (hyperparameters.json, which trainguard exports as SM_HP_<NAME>; else the
# environment variable in brackets; else the default):
#   steps                [STEPS]                default 10   steps before finishing by itself
#   checkpoint_interval  [CHECKPOINT_INTERVAL]  default 0.5  seconds between checkpoints
#   keep_checkpoints     [KEEP_CHECKPOINTS]     default 3    older complete checkpoints are deleted
#
# Each checkpoint: files written into a temporary directory and fsynced, the directory renamed to
# step-N, then the commit marker .trainguard-commit written last (temp file, fsync, rename). A
# SIGKILL can land anywhere in that sequence; trainguard packages only checkpoints with a marker.
#
# `trap '' TERM` sets the disposition to "ignore", which every command it runs (sleep, mv, sync)
# inherits, so the signal trainguard forwards to the process group is lost on all of them.
# trainguard SIGKILLs the group at the checkpoint deadline and exits 137 (128 + SIGKILL).
set -eu
trap '' TERM

dir=${SM_CHECKPOINT_DIR:-/opt/ml/checkpoints}
model_dir=${SM_MODEL_DIR:-/opt/ml/model}
steps=${SM_HP_STEPS:-${STEPS:-10}}
interval=${SM_HP_CHECKPOINT_INTERVAL:-${CHECKPOINT_INTERVAL:-0.5}}
keep=${SM_HP_KEEP_CHECKPOINTS:-${KEEP_CHECKPOINTS:-3}}
for value in "steps=$steps" "keep_checkpoints=$keep"; do
  case ${value#*=} in
    '' | *[!0-9]* | 0) echo "[train.sh] hyperparameter $value is not a whole number above 0" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
rm -rf "$dir"/.tmp-step-*

step=0
state=1
echo "[train.sh] ignoring SIGTERM; $steps steps, a checkpoint every ${interval}s into $dir"
while [ "$step" -lt "$steps" ]; do
  step=$((step + 1))
  # "Training": a linear congruential generator, deterministic from step 1.
  state=$(( (state * 1103515245 + 12345) % 2147483648 ))

  tmp="$dir/.tmp-step-$step"
  final="$dir/step-$step"
  mkdir "$tmp"
  printf 'step=%d\nstate=%d\n' "$step" "$state" > "$tmp/state.txt"
  i=0
  while [ "$i" -lt 64 ]; do printf '%d %d\n' "$step" "$i"; i=$((i + 1)); done > "$tmp/weights.txt"
  sync "$tmp/state.txt" "$tmp/weights.txt" "$tmp"
  rm -rf "$final"   # left incomplete by an earlier run: never resumed from, safe to replace
  mv "$tmp" "$final"
  sync "$dir"
  printf '{"step": %d}\n' "$step" > "$final/.trainguard-commit.tmp"
  sync "$final/.trainguard-commit.tmp"
  mv "$final/.trainguard-commit.tmp" "$final/.trainguard-commit"
  sync "$final"
  echo "step=$step state=$state checkpoint=$final"

  old="$dir/step-$((step - keep))"
  if [ -d "$old" ]; then
    rm -f "$old/.trainguard-commit"   # marker first: a deletion cut short is an incomplete checkpoint
    rm -rf "$old"
  fi
  if [ "$step" -lt "$steps" ]; then sleep "$interval"; fi
done

# Finished: the model the platform uploads from the model dir (temp file, fsync, rename).
mkdir -p "$model_dir"
printf 'steps=%d\nstate=%d\n' "$step" "$state" > "$model_dir/.state.txt.tmp"
sync "$model_dir/.state.txt.tmp"
mv "$model_dir/.state.txt.tmp" "$model_dir/state.txt"
sync "$model_dir"
echo "[train.sh] finished $steps steps; model written to $model_dir/state.txt"
