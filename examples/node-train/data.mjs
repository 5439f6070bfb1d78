// @ts-check
import { Rng } from "./rng.mjs";

/**
 * @typedef {object} Dataset
 * @property {Float64Array} x row-major, `count` rows of `features`
 * @property {Float64Array} y labels, 0 or 1
 * @property {number} count
 * @property {number} features
 */

/**
 * A binary classification problem generated from the seed alone, so every run (and every resume)
 * sees exactly the same data without shipping a file: Gaussian features, labelled by a random
 * "teacher" network with a little label noise. Non-linear enough that a hidden layer helps.
 * @param {number} seed
 * @param {number} count
 * @param {number} features
 * @returns {{ train: Dataset, validation: Dataset }} 90 % / 10 %
 */
export function makeDataset(seed, count, features) {
  // A stream of its own: the data never depends on how many numbers training has drawn.
  const rng = Rng.fromSeed(seed ^ 0x5eed_da7a);
  const teacherHidden = 8;
  const w1 = Float64Array.from({ length: teacherHidden * features }, () => rng.normal());
  const w2 = Float64Array.from({ length: teacherHidden }, () => rng.normal());
  const x = new Float64Array(count * features);
  const y = new Float64Array(count);
  for (let n = 0; n < count; n++) {
    for (let f = 0; f < features; f++) x[n * features + f] = rng.normal();
    let z = 0;
    for (let h = 0; h < teacherHidden; h++) {
      let a = 0;
      for (let f = 0; f < features; f++) a += w1[h * features + f] * x[n * features + f];
      z += w2[h] * Math.tanh(a / Math.sqrt(features));
    }
    y[n] = z + 0.1 * rng.normal() > 0 ? 1 : 0;
  }
  const split = Math.floor(count * 0.9);
  return {
    train: { x: x.subarray(0, split * features), y: y.subarray(0, split), count: split, features },
    validation: { x: x.subarray(split * features), y: y.subarray(split), count: count - split, features },
  };
}
