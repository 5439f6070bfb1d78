import { createHash } from "node:crypto";
import { Transform } from "node:stream";

/**
 * Passes bytes on unchanged and takes their sha256 and count on the way: for an archive that is
 * never a file one could hash afterwards. `result()` once the stream has ended.
 */
export function hashingPassThrough(): { stream: Transform; result: () => { bytes: number; sha256: string } } {
  const hash = createHash("sha256");
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  return { stream, result: () => ({ bytes, sha256: hash.digest("hex") }) };
}
