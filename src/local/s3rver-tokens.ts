import crypto, { type BinaryLike, type CipherKey } from "node:crypto";

let installed = false;

/**
 * s3rver makes its ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node 17 and
 * later) keeps in its legacy provider: a listing of more than 1,000 keys (one page) then fails
 * with a 500 unless node runs with --openssl-legacy-provider. DES under key K is 3DES (EDE) under
 * K, K, K (the encrypt and decrypt with the same key cancel), and des-ede3-cbc is in OpenSSL 3's
 * default provider, so "des" is served by it: the same tokens, byte for byte. Only the algorithm
 * name "des" is touched, and only when OpenSSL refuses it.
 */
export function serveSingleDesWithTripleDes(): void {
  if (installed || singleDesWorks()) return;
  installed = true;
  const createCipheriv = crypto.createCipheriv;
  const createDecipheriv = crypto.createDecipheriv;
  const asTriple = (algorithm: string, key: CipherKey): [string, CipherKey] =>
    algorithm.toLowerCase() === "des" && Buffer.isBuffer(key) && key.length === 8 ? ["des-ede3-cbc", Buffer.concat([key, key, key])] : [algorithm, key];
  const patched = crypto as unknown as Record<string, unknown>;
  patched.createCipheriv = (algorithm: string, key: CipherKey, iv: BinaryLike | null, options?: unknown) =>
    createCipheriv(...asTriple(algorithm, key), iv, options as never);
  patched.createDecipheriv = (algorithm: string, key: CipherKey, iv: BinaryLike | null, options?: unknown) =>
    createDecipheriv(...asTriple(algorithm, key), iv, options as never);
}

function singleDesWorks(): boolean {
  try {
    crypto.createCipheriv("des", Buffer.alloc(8, 1), Buffer.alloc(8));
    return true;
  } catch {
    return false;
  }
}
