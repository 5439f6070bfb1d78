// The demo's training algorithm: a tiny deterministic "model" trained step by step, checkpointed
// every step as a directory whose commit marker is written last, and saved once more on SIGTERM.
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

const checkpointDir = process.env.SM_CHECKPOINT_DIR ?? "/opt/ml/checkpoints";
const stepMs = Number(process.env.DEMO_STEP_MS ?? 700);
let weights = new Float32Array(256 * 1024).map((_, i) => Math.sin(i));
let step = 0;
let stopping = false;

async function saveCheckpoint(label: string): Promise<void> {
  const name = `step-${String(step).padStart(5, "0")}`;
  const staging = path.join(checkpointDir, `.${name}.partial`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await writeFile(path.join(staging, "weights.f32"), Buffer.from(weights.buffer));
  await writeFile(path.join(staging, "state.json"), JSON.stringify({ step, label }));
  await writeFile(path.join(staging, ".trainguard-commit"), `${new Date().toISOString()}\n`);
  await rm(path.join(checkpointDir, name), { recursive: true, force: true });
  await rename(staging, path.join(checkpointDir, name));
  process.stdout.write(`demo-algorithm: saved checkpoint ${name} (${label})\n`);
}

process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  process.stdout.write("demo-algorithm: SIGTERM received, saving a final checkpoint\n");
  void saveCheckpoint("on stop").then(() => process.exit(0));
});

await mkdir(checkpointDir, { recursive: true });
process.stdout.write(`demo-algorithm: training, one step every ${stepMs} ms, checkpoints in ${checkpointDir}\n`);
for (;;) {
  await new Promise((resolve) => setTimeout(resolve, stepMs));
  if (stopping) break;
  step += 1;
  weights = weights.map((w) => w * 0.99 + 0.01);
  process.stdout.write(`demo-algorithm: step ${step} loss=${(1 / (step + 1)).toFixed(4)}\n`);
  await saveCheckpoint("periodic");
}
