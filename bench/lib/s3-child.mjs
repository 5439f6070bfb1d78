// S3-side baselines and chores for the stop-path benchmarks, each in its own process so its time
// and memory are its own. One JSON line on stdout.
//
//   node s3-child.mjs '{"op":"mem","endpoint":E,"bucket":B,"key":K,"bytes":N}'
//       The upload stage alone: N bytes from memory (one 8 MiB random buffer, repeated) through
//       trainguard's putStream with its defaults (8 MiB parts, 4 in flight, expectedBytes).
//   node s3-child.mjs '{"op":"naive","endpoint":E,"bucket":B,"key":K,"file":F}'
//       The naive pipeline's upload: a file on disk with @aws-sdk/lib-storage's Upload at its
//       defaults (5 MiB parts, queueSize 4), through the same S3 client settings trainguard uses.
//   node s3-child.mjs '{"op":"files","endpoint":E,"bucket":B,"prefix":P,"dir":D,"concurrency":4,"order":"largest"}'
//       Uploading one checkpoint alone: every file under D to P/<relative path>, `concurrency`
//       files at a time, each with putStream (streamed from disk, expectedBytes), marker last;
//       in path order (as trainguard's sync walks) or largest first.
//   node s3-child.mjs '{"op":"delete","endpoint":E,"bucket":B,"prefix":P}'
//       Removes every object under P (between trials, untimed).
//   "list" (objects under P, grouped by first segment, with marker presence), "head" (size of K).
import { createReadStream, readFileSync, readdirSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const dist = (p) => import(pathToFileURL(path.join(REPO, "dist", p)).href);
const args = JSON.parse(process.argv[2]);
const storage = await dist("storage/index.js");
const { createLogger } = await dist("log/index.js");
const { EMBEDDED_S3_CREDENTIALS } = await dist("local/index.js");

// "external": a store of the operator's (--s3-endpoint), with the credentials of the environment.
const env = args.external ? process.env : { AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey, AWS_REGION: "us-east-1" };
const client = storage.createS3Client({ endpoint: args.endpoint, env });
const log = await createLogger({ level: "warn", pretty: false });
const store = storage.openStore(storage.parseStorageUri(`s3://${args.bucket}`, "bench"), { client, log });

function vmHWMkB() {
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
}

function walk(dir, rel = "") {
  const out = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

const t0 = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
let result;
switch (args.op) {
  case "mem": {
    const chunk = randomBytes(8 * 2 ** 20);
    const total = args.bytes;
    let sent = 0;
    const source = Readable.from(
      (function* () {
        while (sent < total) {
          const n = Math.min(chunk.length, total - sent);
          sent += n;
          yield n === chunk.length ? chunk : chunk.subarray(0, n);
        }
      })(),
      { objectMode: false },
    );
    const started = process.hrtime.bigint();
    const since = () => Number(process.hrtime.bigint() - started) / 1e9;
    // When the last part is acknowledged; the rest is CompleteMultipartUpload (the server
    // assembling the object).
    let partsSeconds;
    const put = await store.putStream(args.key, source, {
      expectedBytes: total,
      onProgress: (p) => {
        if (partsSeconds === undefined && p.bytesStored >= total) partsSeconds = since();
      },
    });
    result = { seconds: since(), partsSeconds, bytes: put.bytes };
    break;
  }
  case "naive": {
    const { Upload } = await import("@aws-sdk/lib-storage");
    const started = process.hrtime.bigint();
    const upload = new Upload({ client, params: { Bucket: args.bucket, Key: args.key, Body: createReadStream(args.file) } });
    await upload.done();
    result = { seconds: Number(process.hrtime.bigint() - started) / 1e9, bytes: statSync(args.file).size };
    break;
  }
  case "files": {
    const rels = walk(args.dir);
    // Markers last, as any correct checkpoint upload must do.
    const markers = new Set([".trainguard-commit", ".metadata", ".snapshot_metadata"]);
    // "path": sorted by path, as trainguard's sync walks a checkpoint; "largest": biggest first.
    const size = (r) => statSync(path.join(args.dir, r)).size;
    const body = rels.filter((r) => !markers.has(r)).sort();
    if (args.order === "largest") body.sort((a, b) => size(b) - size(a));
    const last = rels.filter((r) => markers.has(r));
    const started = process.hrtime.bigint();
    let bytes = 0;
    const biggest = Math.max(...rels.map(size));
    let bigFileStartSeconds;
    let bigFileSeconds;
    const putOne = async (rel) => {
      const file = path.join(args.dir, rel);
      const n = statSync(file).size;
      const big = n === biggest;
      if (big) bigFileStartSeconds ??= Number(process.hrtime.bigint() - started) / 1e9;
      await store.putStream(`${args.prefix}/${rel}`, createReadStream(file), { expectedBytes: n });
      bytes += n;
      if (big) bigFileSeconds ??= Number(process.hrtime.bigint() - started) / 1e9;
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: args.concurrency ?? 4 }, async () => {
        while (next < body.length) await putOne(body[next++]);
      }),
    );
    for (const rel of last) await putOne(rel);
    result = { seconds: Number(process.hrtime.bigint() - started) / 1e9, bytes, files: rels.length, bigFileStartSeconds, bigFileSeconds };
    break;
  }
  case "delete": {
    const keys = (await store.list(`${args.prefix}/`)).map((e) => e.key);
    await store.deleteMany(keys);
    result = { deleted: keys.length };
    break;
  }
  case "list": {
    const entries = await store.list(`${args.prefix}/`);
    const checkpoints = {};
    for (const e of entries) {
      const [name, ...rest] = e.key.slice(args.prefix.length + 1).split("/");
      const c = (checkpoints[name] ??= { files: 0, bytes: 0, marker: false });
      c.files++;
      c.bytes += e.size;
      if (rest.join("/") === ".trainguard-commit") c.marker = true;
    }
    result = { objects: entries.length, bytes: entries.reduce((n, e) => n + e.size, 0), checkpoints };
    break;
  }
  case "head": {
    result = { size: (await store.head(args.key)) ?? null };
    break;
  }
  default:
    throw new Error(`unknown op ${args.op}`);
}
console.log(JSON.stringify({ op: args.op, ...result, totalSeconds: elapsed(), vmHWMkB: vmHWMkB() }));
process.exit(0);
