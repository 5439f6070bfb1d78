#!/usr/bin/env python3
"""A small, deterministic training algorithm for trainguard (Python 3 standard library only).

It fits y = w*x + b to a fixed synthetic data set with mini-batch SGD, one step every
`step_seconds` (the sleep stands in for real work), and checkpoints after every step into
$SM_CHECKPOINT_DIR/step-N/:

  1. the files are written into a temporary directory beside the checkpoints and fsynced;
  2. the directory is renamed to step-N (still without a commit marker: incomplete);
  3. the commit marker `.trainguard-commit` is written last (temp file, fsync, rename).

A checkpoint is complete only once its marker exists, so a save cut short is never packaged.

On SIGTERM (what trainguard forwards on a stop) it cuts the current step short, saves one final
checkpoint and exits 0. Left alone it finishes after `steps` steps, saves, writes
$SM_MODEL_DIR/model.json and exits 0. It resumes from the newest complete checkpoint.

Hyperparameters (hyperparameters.json, all values strings as SageMaker passes them; also the
environment variables in brackets, for runs without a config file):
  steps              [STEPS]              default 10   steps to train before finishing by itself
  step_seconds       [STEP_SECONDS]       default 0.5  time one step takes
  learning_rate      [LEARNING_RATE]      default 0.1
  keep_checkpoints   [KEEP_CHECKPOINTS]   default 3    older complete checkpoints are deleted
"""

import json
import os
import random
import shutil
import signal
import sys
import time

COMMIT_MARKER = ".trainguard-commit"
DATA_SEED = 1234
DATA_SIZE = 256
BATCH_SIZE = 32
TRUE_W, TRUE_B = 3.0, 2.0

stop_requested = False


def on_stop(signum, _frame):
    global stop_requested
    if not stop_requested:
        log(f"{signal.Signals(signum).name} received: finishing this step, saving, exiting")
    stop_requested = True


def log(message):
    print(f"[train.py] {message}", flush=True)


def hyperparameter(hps, name, env_name, default, kind):
    raw = hps.get(name, os.environ.get(env_name, default))
    try:
        return kind(raw)
    except (TypeError, ValueError):
        sys.exit(f"hyperparameter {name}={raw!r} is not a valid {kind.__name__}")


def dataset():
    rng = random.Random(DATA_SEED)
    xs = [rng.uniform(-1.0, 1.0) for _ in range(DATA_SIZE)]
    return [(x, TRUE_W * x + TRUE_B + rng.gauss(0.0, 0.1)) for x in xs]


def train_step(data, w, b, step, learning_rate):
    """One SGD step on the batch that `step` selects: the same step always sees the same batch."""
    start = ((step - 1) * BATCH_SIZE) % len(data)
    batch = [data[(start + i) % len(data)] for i in range(BATCH_SIZE)]
    grad_w = sum(2 * (w * x + b - y) * x for x, y in batch) / len(batch)
    grad_b = sum(2 * (w * x + b - y) for x, y in batch) / len(batch)
    w -= learning_rate * grad_w
    b -= learning_rate * grad_b
    loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
    return w, b, loss


# --- checkpoints -------------------------------------------------------------------------------

def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def checkpoint_step(name):
    if not name.startswith("step-"):
        return None
    try:
        return int(name[len("step-"):])
    except ValueError:
        return None


def complete_checkpoints(checkpoint_dir):
    """(step, path) of every complete checkpoint, oldest first."""
    found = []
    for name in os.listdir(checkpoint_dir):
        step = checkpoint_step(name)
        path = os.path.join(checkpoint_dir, name)
        if step is not None and os.path.isfile(os.path.join(path, COMMIT_MARKER)):
            found.append((step, path))
    return sorted(found)


def save_checkpoint(checkpoint_dir, step, state):
    final = os.path.join(checkpoint_dir, f"step-{step}")
    tmp = os.path.join(checkpoint_dir, f".tmp-step-{step}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.mkdir(tmp)
    files = {
        "model.json": json.dumps({"w": state["w"], "b": state["b"]}, indent=2) + "\n",
        "trainer.json": json.dumps({"step": step, "loss": state["loss"], "reason": state["reason"]}, indent=2) + "\n",
    }
    for name, text in files.items():
        write_synced(os.path.join(tmp, name), text)
    fsync_dir(tmp)
    if os.path.isdir(final):
        # Left by a run that died between rename and marker: incomplete, never resumed from.
        shutil.rmtree(final)
    os.rename(tmp, final)
    fsync_dir(checkpoint_dir)
    # The commit marker, last: from here on the checkpoint is complete.
    marker_tmp = os.path.join(final, COMMIT_MARKER + ".tmp")
    write_synced(marker_tmp, json.dumps({"step": step, "files": sorted(files)}) + "\n")
    os.rename(marker_tmp, os.path.join(final, COMMIT_MARKER))
    fsync_dir(final)
    return final


def delete_old_checkpoints(checkpoint_dir, keep):
    for _step, path in complete_checkpoints(checkpoint_dir)[:-keep]:
        # Marker first: a deletion cut short leaves an incomplete checkpoint, never a "complete" partial one.
        os.remove(os.path.join(path, COMMIT_MARKER))
        fsync_dir(path)
        shutil.rmtree(path)


def remove_stale_temporaries(checkpoint_dir):
    for name in os.listdir(checkpoint_dir):
        if name.startswith(".tmp-step-"):
            shutil.rmtree(os.path.join(checkpoint_dir, name), ignore_errors=True)


def resume(checkpoint_dir):
    complete = complete_checkpoints(checkpoint_dir)
    if not complete:
        return 0, {"w": 0.0, "b": 0.0, "loss": None}
    step, path = complete[-1]
    with open(os.path.join(path, "model.json"), encoding="utf-8") as f:
        model = json.load(f)
    with open(os.path.join(path, "trainer.json"), encoding="utf-8") as f:
        trainer = json.load(f)
    log(f"resuming from {path}")
    return step, {"w": model["w"], "b": model["b"], "loss": trainer["loss"]}


def write_model(model_dir, state, step):
    os.makedirs(model_dir, exist_ok=True)
    tmp = os.path.join(model_dir, ".model.json.tmp")
    write_synced(tmp, json.dumps({"w": state["w"], "b": state["b"], "loss": state["loss"], "steps": step}, indent=2) + "\n")
    os.rename(tmp, os.path.join(model_dir, "model.json"))
    fsync_dir(model_dir)


# --- main --------------------------------------------------------------------------------------

def sleep_unless_stopped(seconds):
    deadline = time.monotonic() + seconds
    while not stop_requested:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))


def main():
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    hps = json.loads(os.environ.get("SM_HPS") or "{}")
    steps = hyperparameter(hps, "steps", "STEPS", 10, int)
    step_seconds = hyperparameter(hps, "step_seconds", "STEP_SECONDS", 0.5, float)
    learning_rate = hyperparameter(hps, "learning_rate", "LEARNING_RATE", 0.1, float)
    keep = max(1, hyperparameter(hps, "keep_checkpoints", "KEEP_CHECKPOINTS", 3, int))
    checkpoint_dir = os.environ.get("SM_CHECKPOINT_DIR", "/opt/ml/checkpoints")
    model_dir = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")

    os.makedirs(checkpoint_dir, exist_ok=True)
    remove_stale_temporaries(checkpoint_dir)
    step, state = resume(checkpoint_dir)
    data = dataset()
    log(f"training steps {step + 1}..{steps} every {step_seconds}s, checkpoints in {checkpoint_dir}")

    while step < steps and not stop_requested:
        started = time.monotonic()
        state["w"], state["b"], state["loss"] = train_step(data, state["w"], state["b"], step + 1, learning_rate)
        step += 1
        sleep_unless_stopped(step_seconds - (time.monotonic() - started))
        state["reason"] = "stop" if stop_requested else ("final" if step == steps else "interval")
        path = save_checkpoint(checkpoint_dir, step, state)
        print(f"step={step} loss={state['loss']:.6f} w={state['w']:.6f} b={state['b']:.6f} checkpoint={path}", flush=True)
        if not stop_requested:
            delete_old_checkpoints(checkpoint_dir, keep)

    if stop_requested:
        # A stop that arrived during the save above found the state already saved: nothing to add.
        log(f"stopped after step {step}; newest checkpoint step-{step}")
        return 0
    write_model(model_dir, state, step)
    log(f"finished {steps} steps; model written to {model_dir}/model.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
