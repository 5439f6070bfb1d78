// @ts-check
// A small MLP trained with runTraining: a checkpoint after every epoch, resume from the newest
// complete one, and on a stop either finish the current epoch (when the time left allows) or drop
// it, then return. Deterministic: stopped and resumed, it ends with the same weights, bit for bit,
// as a run that was never stopped (data from the seed, data order from the saved PRNG state).
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { runTraining } from "trainguard";
import { makeDataset } from "./data.mjs";
import { Mlp } from "./mlp.mjs";
import { Rng } from "./rng.mjs";

/** Batches between two looks at the event loop (where the stop signal is delivered): about 1 ms. */
const YIELD_EVERY = 4;

await runTraining(async (ctx) => {
  const hp = {
    seed: ctx.hp.integer("seed", 7),
    epochs: ctx.hp.integer("epochs", 8),
    samples: ctx.hp.integer("samples", 200_000),
    features: ctx.hp.integer("features", 16),
    hidden: ctx.hp.integer("hidden", 64),
    batchSize: ctx.hp.integer("batch_size", 32),
    learningRate: ctx.hp.number("learning_rate", 0.05),
  };
  for (const [name, value] of Object.entries(hp)) {
    if (!(value > 0)) throw new Error(`hyperparameter ${name} must be above 0, got ${value}`);
  }
  const { train, validation } = makeDataset(hp.seed, hp.samples, hp.features);
  const order = new Uint32Array(train.count);

  let model = new Mlp(hp.features, hp.hidden);
  let rng = Rng.fromSeed(hp.seed);
  let firstEpoch = 1;
  const latest = await ctx.latestCheckpoint();
  if (latest) {
    const state = await loadCheckpoint(latest.dir, hp);
    model = state.model;
    rng = state.rng;
    firstEpoch = state.epoch + 1;
    ctx.log.info({ checkpoint: latest.name, epoch: state.epoch }, `resuming after epoch ${state.epoch}`);
  } else {
    model.init(rng);
  }

  for (let epoch = firstEpoch; epoch <= hp.epochs; epoch++) {
    console.log(`epoch ${epoch}/${hp.epochs} started`);
    const loss = await runEpoch(model, train, order, rng);
    if (loss === null) {
      ctx.log.info({ epoch }, `stop: not enough time to finish epoch ${epoch}; the checkpoint of epoch ${epoch - 1} stands`);
      return;
    }
    const accuracy = model.accuracy(validation);
    ctx.metric("train:loss", loss, epoch);
    ctx.metric("validation:accuracy", accuracy, epoch);
    // The PRNG state after the epoch is the next epoch's data order: it goes into the checkpoint.
    const state = { epoch, rng: rng.state, ...hp, loss, accuracy };
    await ctx.saveCheckpoint(`epoch-${String(epoch).padStart(4, "0")}`, async (dir) => {
      await writeFile(path.join(dir, "weights.bin"), new Uint8Array(model.params.buffer));
      await writeFile(path.join(dir, "state.json"), `${JSON.stringify(state, null, 2)}\n`);
    });
    if (ctx.signal.aborted) {
      ctx.log.info({ epoch }, `stop: epoch ${epoch} saved, returning`);
      return;
    }
  }
  // Completed: the model the platform uploads from the model dir.
  await writeFile(path.join(ctx.dirs.model, "weights.bin"), new Uint8Array(model.params.buffer));
  await writeFile(path.join(ctx.dirs.model, "model.json"), `${JSON.stringify({ features: hp.features, hidden: hp.hidden, epochs: hp.epochs, seed: hp.seed }, null, 2)}\n`);
  console.log(`training complete: ${hp.epochs} epochs`);

  /**
   * One epoch of minibatch SGD in the order `rng` draws. Returns the mean loss, or null when a
   * stop came and the rest of the epoch would not fit in the time left.
   * @param {Mlp} net @param {import("./data.mjs").Dataset} data @param {Uint32Array} rows @param {Rng} random
   */
  async function runEpoch(net, data, rows, random) {
    for (let i = 0; i < rows.length; i++) rows[i] = i;
    random.shuffle(rows);
    const batches = Math.ceil(data.count / hp.batchSize);
    const started = performance.now();
    let finishing = false;
    let loss = 0;
    for (let b = 0; b < batches; b++) {
      if (b % YIELD_EVERY === 0) {
        // Without this the SIGTERM handler (and every timer) would wait for the epoch to end.
        await yieldToEventLoop();
        if (ctx.signal.aborted && !finishing) {
          const msPerBatch = (performance.now() - started) / Math.max(1, b);
          const neededMs = (batches - b) * msPerBatch * 1.5 + 1_000; // with a margin for the save
          if (neededMs > ctx.timeLeftMs()) return null;
          finishing = true;
          ctx.log.info({ neededMs: Math.round(neededMs), timeLeftMs: ctx.timeLeftMs() }, "stop: finishing this epoch first");
        }
      }
      loss += net.step(data, rows, b * hp.batchSize, Math.min(data.count, (b + 1) * hp.batchSize), hp.learningRate);
    }
    return loss / data.count;
  }
});

/**
 * @param {string} dir
 * @param {{ seed: number, features: number, hidden: number, samples: number }} hp
 */
async function loadCheckpoint(dir, hp) {
  const state = JSON.parse(await readFile(path.join(dir, "state.json"), "utf8"));
  for (const key of /** @type {const} */ (["seed", "features", "hidden", "samples"])) {
    if (state[key] !== hp[key]) throw new Error(`checkpoint ${dir} was trained with ${key}=${state[key]}, this run has ${key}=${hp[key]}: use a fresh checkpoint dir`);
  }
  const bytes = await readFile(path.join(dir, "weights.bin"));
  // A copy: the file's Buffer may sit at an offset that is not a multiple of 8.
  const params = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { epoch: /** @type {number} */ (state.epoch), rng: new Rng(state.rng), model: new Mlp(hp.features, hp.hidden, params) };
}
