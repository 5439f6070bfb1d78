#!/usr/bin/env python3
"""A small, real PyTorch training job for trainguard: an MLP fitted to data it generates itself.

Everything is seeded: the model's initial weights, and each step's batch (drawn from a generator
seeded with the step number), so a run stopped at step k and resumed from its checkpoint ends
with exactly the weights of a run that was never stopped.

Two modes (hyperparameter `mode`):

  checkpoints  (default) every `save_every` steps, model and optimizer state go into
               $SM_CHECKPOINT_DIR/step-N/checkpoint.pt, then the commit marker
               `.trainguard-commit` is written last (save_checkpoint below). It resumes from the
               newest complete checkpoint. On SIGTERM it finishes the current step, saves, and
               exits 0.
  overwrite    what most scripts do: torch.save over one $SM_CHECKPOINT_DIR/model.pt every
               `save_every` steps, and no SIGTERM handler at all, so the stop signal kills it,
               often in the middle of torch.save. trainguard packages the last intact model.pt.

Hyperparameters (hyperparameters.json, strings as SageMaker passes them; or the environment
variable in brackets):
  mode          [MODE]          checkpoints | overwrite            default checkpoints
  steps         [STEPS]         steps before it finishes by itself default 200
  save_every    [SAVE_EVERY]    steps between checkpoints          default 20
  hidden        [HIDDEN]        width of the hidden layers         default 64
  step_seconds  [STEP_SECONDS]  extra time per step (stands in for a bigger model) default 0
  seed          [SEED]          default 0
  on_term       [ON_TERM]       overwrite mode only: die (default, no handler) | ignore (as if a
                                launcher masked SIGTERM: trainguard SIGKILLs it at the deadline)
"""

import hashlib
import json
import os
import re
import shutil
import signal
import sys
import time

import torch

COMMIT_MARKER = ".trainguard-commit"
FEATURES, CLASSES, BATCH = 16, 4, 64
stop_requested = False


def log(message):
    print(f"[train.py] {message}", flush=True)


def hyperparameters():
    hps = json.loads(os.environ.get("SM_HPS") or "{}")

    def get(name, default, kind):
        raw = hps.get(name, os.environ.get(name.upper(), default))
        try:
            return kind(raw)
        except (TypeError, ValueError):
            sys.exit(f"hyperparameter {name}={raw!r} is not a valid {kind.__name__}")

    return {
        "mode": get("mode", "checkpoints", str),
        "steps": get("steps", 200, int),
        "save_every": max(1, get("save_every", 20, int)),
        "hidden": get("hidden", 64, int),
        "step_seconds": get("step_seconds", 0.0, float),
        "seed": get("seed", 0, int),
        "on_term": get("on_term", "die", str),
    }


def make_model(hidden, seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, CLASSES),
    )


def batch(step, seed):
    """The batch of `step`, the same in every run: a fixed teacher labels random inputs."""
    teacher = torch.Generator().manual_seed(seed + 1_000_003)
    w = torch.randn(FEATURES, CLASSES, generator=teacher)
    g = torch.Generator().manual_seed(seed * 1_000_033 + step)
    x = torch.randn(BATCH, FEATURES, generator=g)
    return x, (x @ w).argmax(dim=1)


def train_step(model, optimizer, step, seed):
    x, y = batch(step, seed)
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def digest(model):
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()


# --- the checkpoint helper (the README shows it) --------------------------------------------

def save_checkpoint(checkpoint_dir, step, state):
    """torch.save into step-N/, then the commit marker, written last: a save cut short is never used."""
    final = os.path.join(checkpoint_dir, f"step-{step}")
    os.makedirs(final, exist_ok=True)
    torch.save(state, os.path.join(final, "checkpoint.pt"))
    marker = os.path.join(final, COMMIT_MARKER)
    with open(marker + ".tmp", "w") as f:
        f.write(f"{step}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(marker + ".tmp", marker)


def newest_checkpoint(checkpoint_dir):
    """(step, dir) of the newest complete step-N, or None."""
    steps = [int(m.group(1)) for n in os.listdir(checkpoint_dir) if (m := re.fullmatch(r"step-(\d+)", n))
             and os.path.isfile(os.path.join(checkpoint_dir, n, COMMIT_MARKER))]
    return (max(steps), os.path.join(checkpoint_dir, f"step-{max(steps)}")) if steps else None


def delete_old_checkpoints(checkpoint_dir, keep=3):
    steps = sorted(int(n[5:]) for n in os.listdir(checkpoint_dir) if re.fullmatch(r"step-\d+", n))
    for step in steps[:-keep]:
        path = os.path.join(checkpoint_dir, f"step-{step}")
        # Marker first: a deletion cut short leaves an incomplete checkpoint, never a "complete" partial one.
        if os.path.exists(os.path.join(path, COMMIT_MARKER)):
            os.remove(os.path.join(path, COMMIT_MARKER))
        shutil.rmtree(path, ignore_errors=True)


# --- main ------------------------------------------------------------------------------------

def on_stop(signum, _frame):
    global stop_requested
    if not stop_requested:
        log(f"{signal.Signals(signum).name} received: finishing this step, saving, exiting")
    stop_requested = True


def main():
    hp = hyperparameters()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    checkpoint_dir = os.environ.get("SM_CHECKPOINT_DIR", "/opt/ml/checkpoints")
    model_dir = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
    os.makedirs(checkpoint_dir, exist_ok=True)
    overwrite = hp["mode"] == "overwrite"
    if not overwrite:
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
    elif hp["on_term"] == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    model = make_model(hp["hidden"], hp["seed"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    step = 0
    found = None if overwrite else newest_checkpoint(checkpoint_dir)
    if found:
        state = torch.load(os.path.join(found[1], "checkpoint.pt"))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        log(f"resuming from {found[1]} (step {step})")
    log(f"mode {hp['mode']}: steps {step + 1}..{hp['steps']}, checkpoints in {checkpoint_dir}")

    saved = step
    while step < hp["steps"] and not stop_requested:
        loss = train_step(model, optimizer, step + 1, hp["seed"])
        step += 1
        if hp["step_seconds"] > 0:
            time.sleep(hp["step_seconds"])
        if step % hp["save_every"] == 0 or stop_requested:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}
            if overwrite:
                torch.save(state, os.path.join(checkpoint_dir, "model.pt"))
            else:
                save_checkpoint(checkpoint_dir, step, state)
                delete_old_checkpoints(checkpoint_dir)
            saved = step
            print(f"step={step} loss={loss:.6f} saved", flush=True)

    if stop_requested:
        if saved != step:
            save_checkpoint(checkpoint_dir, step, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step})
        log(f"stopped after step {step}; newest checkpoint step-{step}")
        return 0
    os.makedirs(model_dir, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(model_dir, "model.pt"))
    with open(os.path.join(model_dir, "digest.txt"), "w") as f:
        f.write(digest(model) + "\n")
    log(f"finished {hp['steps']} steps; model written to {model_dir}/model.pt, weights digest {digest(model)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
