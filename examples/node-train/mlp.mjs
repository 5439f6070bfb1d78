// @ts-check
/**
 * A one-hidden-layer perceptron for binary classification, all parameters in one Float64Array
 * (so a checkpoint is one binary file): W1 [hidden x features], b1 [hidden], w2 [hidden], b2.
 * h = tanh(W1 x + b1), p = sigmoid(w2 . h + b2), trained by minibatch SGD on cross-entropy.
 */
export class Mlp {
  /** @param {number} features @param {number} hidden @param {Float64Array} [params] */
  constructor(features, hidden, params) {
    this.features = features;
    this.hidden = hidden;
    this.size = hidden * features + hidden + hidden + 1;
    if (params && params.length !== this.size) throw new Error(`expected ${this.size} parameters for ${features}x${hidden}, got ${params.length}`);
    this.params = params ?? new Float64Array(this.size);
    this.grad = new Float64Array(this.size);
    this.h = new Float64Array(hidden);
    this.b1 = hidden * features;
    this.w2 = this.b1 + hidden;
    this.b2 = this.w2 + hidden;
  }

  /** Scaled normal initialisation from `rng`. @param {import("./rng.mjs").Rng} rng */
  init(rng) {
    const p = this.params;
    for (let i = 0; i < this.b1; i++) p[i] = rng.normal() / Math.sqrt(this.features);
    for (let i = this.w2; i < this.b2; i++) p[i] = rng.normal() / Math.sqrt(this.hidden);
  }

  /** P(y = 1 | row `n` of `x`), leaving the hidden activations in this.h. @param {Float64Array} x @param {number} n */
  forward(x, n) {
    const { params: p, h, features, hidden } = this;
    const row = n * features;
    let z = p[this.b2];
    for (let j = 0; j < hidden; j++) {
      let a = p[this.b1 + j];
      const wRow = j * features;
      for (let f = 0; f < features; f++) a += p[wRow + f] * x[row + f];
      const hj = Math.tanh(a);
      h[j] = hj;
      z += p[this.w2 + j] * hj;
    }
    return 1 / (1 + Math.exp(-z));
  }

  /**
   * One SGD step on the rows `order[from..to)`. Returns the summed loss of those rows.
   * @param {import("./data.mjs").Dataset} data @param {Uint32Array} order @param {number} from @param {number} to @param {number} lr
   */
  step(data, order, from, to, lr) {
    const { params: p, grad: g, h, features, hidden } = this;
    g.fill(0);
    let loss = 0;
    for (let i = from; i < to; i++) {
      const n = order[i];
      const prob = this.forward(data.x, n);
      const y = data.y[n];
      loss -= y * Math.log(prob + 1e-12) + (1 - y) * Math.log(1 - prob + 1e-12);
      const dz = prob - y;
      g[this.b2] += dz;
      const row = n * features;
      for (let j = 0; j < hidden; j++) {
        const hj = h[j];
        g[this.w2 + j] += dz * hj;
        const da = dz * p[this.w2 + j] * (1 - hj * hj);
        g[this.b1 + j] += da;
        const wRow = j * features;
        for (let f = 0; f < features; f++) g[wRow + f] += da * data.x[row + f];
      }
    }
    const scale = lr / (to - from);
    for (let i = 0; i < this.size; i++) p[i] -= scale * g[i];
    return loss;
  }

  /** Share of rows classified right. @param {import("./data.mjs").Dataset} data */
  accuracy(data) {
    let right = 0;
    for (let n = 0; n < data.count; n++) if ((this.forward(data.x, n) > 0.5 ? 1 : 0) === data.y[n]) right++;
    return right / data.count;
  }
}
