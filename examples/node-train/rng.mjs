// @ts-check
/**
 * xoshiro128**: a small, fast PRNG whose whole state is four 32-bit words, so it can be saved in a
 * checkpoint and restored exactly: a resumed run draws the same numbers an uninterrupted one would.
 */
export class Rng {
  /** @param {readonly number[]} state four uint32 words, not all zero */
  constructor(state) {
    if (state.length !== 4 || state.every((w) => w === 0)) throw new Error("Rng state must be four uint32 words, not all zero");
    this.s = Uint32Array.from(state);
  }

  /** Seeds the four words with splitmix32, so nearby seeds give unrelated streams. @param {number} seed */
  static fromSeed(seed) {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    return new Rng([next(), next(), next(), next()]);
  }

  /** @returns {number[]} the state, for a checkpoint */
  get state() {
    return Array.from(this.s);
  }

  /** @returns {number} a uint32 */
  nextUint32() {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** @returns {number} uniform in [0, 1), 32 bits of randomness */
  uniform() {
    return this.nextUint32() / 4294967296;
  }

  /** @returns {number} standard normal (Box-Muller; one of the pair is discarded to keep the state simple) */
  normal() {
    const u = 1 - this.uniform(); // (0, 1]: log(0) never happens
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher-Yates shuffle. @param {Uint32Array} items */
  shuffle(items) {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextUint32() % (i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
  }
}

/** @param {number} x @param {number} k */
function rotl(x, k) {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
