/**
 * The bad-input table: every config file, option, environment variable, TRAINGUARD_COMMAND and
 * `verify`, each with what a user must read first in the failure file. `{ml}` is the ml-root.
 */
import { chmodSync, mkdirSync, rmSync, truncateSync, writeFileSync, symlinkSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import type { CaseDirs, RunSpec } from "../helpers/bad-input.js";

export interface BadCase extends RunSpec {
  readonly name: string;
  readonly exit: number;
  /** The failure file's first line; null: no failure file can exist (unusable ml-root, verify). */
  readonly first: RegExp | null;
  /** stderr must match (for cases without a failure file). */
  readonly stderr?: RegExp;
  /** status.json's end state; null: it cannot exist. Default Failed with trainguardExitCode = exit. */
  readonly status?: "Failed" | null;
}

const H = "input/config/hyperparameters.json";
const R = "input/config/resourceconfig.json";
const I = "input/config/inputdataconfig.json";
const C = "input/config/checkpointconfig.json";

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
/** The first line of a refused configuration: file (basename), field and the problem. */
function cfg(file: string, field: string | undefined, problem: string): RegExp {
  return new RegExp(`^trainguard: invalid configuration: \\S*${esc(path.basename(file))}${field === undefined ? "" : `: field "${esc(field)}"`}: .*${problem}`);
}
/** The first line of refused options or variables: the option or variable as the user set it. */
function opt(source: string, problem: string, kind = "options"): RegExp {
  return new RegExp(`^trainguard: invalid ${kind}: ${esc(source)}(: field "[^"]*")?: .*${problem}`);
}
const run = (...options: string[]): string[] => ["run", "--ml-root", "{ml}", ...options, "--", "sh", "-c", "echo started > {base}/started"];
const json = (value: unknown): string => JSON.stringify(value);
const fifo = (rel: string) => (d: CaseDirs): void => {
  mkdirSync(path.dirname(path.join(d.ml, rel)), { recursive: true });
  execFileSync("mkfifo", [path.join(d.ml, rel)]);
};
const bigValue = "x".repeat(200 * 1024);

function configFileCases(rel: string, label: string): BadCase[] {
  return [
    { name: `${label}: not JSON`, files: { [rel]: "{ not json" }, exit: 2, first: cfg(rel, undefined, "is not valid JSON") },
    { name: `${label}: empty`, files: { [rel]: "" }, exit: 2, first: cfg(rel, undefined, "is not valid JSON") },
    { name: `${label}: an array`, files: { [rel]: "[]" }, exit: 2, first: cfg(rel, undefined, "must hold a JSON object, found an array") },
    { name: `${label}: null`, files: { [rel]: "null" }, exit: 2, first: cfg(rel, undefined, "must hold a JSON object") },
    { name: `${label}: a byte order mark`, files: { [rel]: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("{}")]) }, exit: 2, first: cfg(rel, undefined, "byte order mark \\(bytes EF BB BF\\)") },
    { name: `${label}: invalid UTF-8`, files: { [rel]: Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff]), Buffer.from('"}')]) }, exit: 2, first: cfg(rel, undefined, "not valid UTF-8 at byte offset 6 \\(byte 0xff\\)") },
    { name: `${label}: a FIFO`, setup: fifo(rel), exit: 2, first: cfg(rel, undefined, "must be a regular file, but it is a FIFO") },
    { name: `${label}: a directory`, setup: (d) => mkdirSync(path.join(d.ml, rel), { recursive: true }), exit: 2, first: cfg(rel, undefined, "must be a regular file, but it is a directory") },
    { name: `${label}: a raw control character inside a string`, files: { [rel]: '{"a":"x\ty"}' }, exit: 2, first: cfg(rel, undefined, "is not valid JSON") },
  ];
}

export const CASES: readonly BadCase[] = [
  ...configFileCases(H, "hyperparameters.json"),
  ...configFileCases(R, "resourceconfig.json"),
  ...configFileCases(I, "inputdataconfig.json"),
  ...configFileCases(C, "checkpointconfig.json"),

  // hyperparameters.json
  { name: "hyperparameters.json: truncated UTF-8 sequence at the end", files: { [H]: Buffer.concat([Buffer.from('{"a":"b"}'), Buffer.from([0xe2, 0x82])]) }, exit: 2, first: cfg(H, undefined, "not valid UTF-8 at byte offset 9") },
  { name: "hyperparameters.json: overlong UTF-8 encoding", files: { [H]: Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]) }, exit: 2, first: cfg(H, undefined, "not valid UTF-8 at byte offset 6") },
  { name: "hyperparameters.json: a UTF-16 surrogate encoded as UTF-8", files: { [H]: Buffer.concat([Buffer.from('{"ab":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]) }, exit: 2, first: cfg(H, undefined, "not valid UTF-8 at byte offset 7") },
  { name: "hyperparameters.json: 200,000-deep nested JSON", files: { [H]: `{"a":${"[".repeat(200_000)}${"]".repeat(200_000)}}` }, exit: 2, first: cfg(H, "a", "nests deeper than 256 levels"), pid1: true },
  { name: "hyperparameters.json: a string value holding 200,000-deep JSON", files: { [H]: json({ deep: `${"[".repeat(200_000)}${"]".repeat(200_000)}` }) }, exit: 2, first: cfg(H, "deep", "nests deeper than 256 levels") },
  { name: "hyperparameters.json: a NUL byte in a value", files: { [H]: '{"lr":"0.1\\u0000; rm -rf /"}' }, exit: 2, first: cfg(H, "lr", "NUL byte"), pid1: true },
  { name: "hyperparameters.json: a NUL byte in a name", files: { [H]: '{"l\\u0000r":"0.1"}' }, exit: 2, first: /^trainguard: invalid configuration: \S*hyperparameters\.json: field "l\\u0000r": .*NUL byte/ },
  { name: "hyperparameters.json: a 200 KB value (E2BIG)", files: { [H]: json({ big: bigValue }) }, exit: 2, first: cfg(H, "big", "SM_HP_BIG .*Linux passes at most 131072 bytes"), pid1: true },
  { name: "hyperparameters.json: 20,000 small values (SM_HPS over 128 KiB)", files: { [H]: json(Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`p${i}`, "1"]))) }, exit: 2, first: cfg(H, undefined, "131072 bytes") },
  { name: "hyperparameters.json: 70 values of 100 KB (argv plus environment over the limit)", files: { [H]: json(Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`p${i}`, "y".repeat(100 * 1024)]))) }, exit: 2, first: cfg(H, undefined, "(131072 bytes|together)") },
  { name: "hyperparameters.json: larger than 64 MiB (sparse)", setup: (d) => { writeFileSync(path.join(d.ml, H), "{}"); truncateSync(path.join(d.ml, H), 65 * 1024 * 1024); }, exit: 2, first: cfg(H, undefined, "a configuration file may have at most") },
  { name: "hyperparameters.json: a symlink to a FIFO", setup: (d) => { fifo("input/config/hp.fifo")(d); symlinkSync(path.join(d.ml, "input/config/hp.fifo"), path.join(d.ml, H)); }, exit: 2, first: cfg(H, undefined, "FIFO") },
  { name: "input/config is a regular file", setup: (d) => { rmSync(path.join(d.ml, "input", "config"), { recursive: true }); writeFileSync(path.join(d.ml, "input", "config"), "not a dir"); }, exit: 2, first: cfg(H, undefined, "a parent of it is a regular file") },

  // resourceconfig.json
  { name: "resourceconfig.json: no current_host", files: { [R]: json({ hosts: ["algo-1"] }) }, exit: 2, first: cfg(R, "current_host", "must be a non-empty string, found nothing") },
  { name: "resourceconfig.json: current_host a number", files: { [R]: json({ current_host: 1, hosts: ["algo-1"] }) }, exit: 2, first: cfg(R, "current_host", "found a number") },
  { name: "resourceconfig.json: current_host empty", files: { [R]: json({ current_host: "", hosts: ["algo-1"] }) }, exit: 2, first: cfg(R, "current_host", "non-empty string") },
  { name: "resourceconfig.json: current_host ../evil with --checkpoint-uri", files: { [R]: json({ current_host: "../evil", hosts: ["../evil", "algo-2"] }) }, argv: run("--checkpoint-uri", "file://{base}/remote"), exit: 2, first: cfg(R, "current_host", 'host name "\\.\\./evil" must match'), pid1: true },
  { name: "resourceconfig.json: current_host a/b", files: { [R]: json({ current_host: "a/b", hosts: ["a/b"] }) }, exit: 2, first: cfg(R, "current_host", "host name") },
  { name: "resourceconfig.json: current_host .hidden", files: { [R]: json({ current_host: ".hidden", hosts: [".hidden"] }) }, exit: 2, first: cfg(R, "current_host", "host name") },
  { name: "resourceconfig.json: a NUL byte in current_host", files: { [R]: '{"current_host":"algo\\u00001","hosts":["algo\\u00001"]}' }, exit: 2, first: /resourceconfig\.json: field "(current_host|hosts\[0\])": .*NUL byte/ },
  { name: "resourceconfig.json: a 300-character host name", files: { [R]: json({ current_host: "a".repeat(300), hosts: ["a".repeat(300)] }) }, exit: 2, first: cfg(R, "current_host", "host name") },
  { name: "resourceconfig.json: hosts not an array", files: { [R]: json({ current_host: "algo-1", hosts: "algo-1" }) }, exit: 2, first: cfg(R, "hosts", "must be a non-empty array") },
  { name: "resourceconfig.json: hosts empty", files: { [R]: json({ current_host: "algo-1", hosts: [] }) }, exit: 2, first: cfg(R, "hosts", "must be a non-empty array") },
  { name: "resourceconfig.json: hosts holding a number", files: { [R]: json({ current_host: "algo-1", hosts: ["algo-1", 2] }) }, exit: 2, first: cfg(R, "hosts", "must be a non-empty array") },
  { name: "resourceconfig.json: a host listed twice", files: { [R]: json({ current_host: "algo-1", hosts: ["algo-1", "algo-1"] }) }, exit: 2, first: cfg(R, "hosts", "lists the same host twice") },
  { name: "resourceconfig.json: current_host not among hosts", files: { [R]: json({ current_host: "algo-3", hosts: ["algo-1", "algo-2"] }) }, exit: 2, first: cfg(R, "current_host", "is not one of hosts") },
  { name: "resourceconfig.json: another host named ../x", files: { [R]: json({ current_host: "algo-1", hosts: ["algo-1", "../x"] }) }, exit: 2, first: cfg(R, "hosts[1]", "host name") },

  // inputdataconfig.json
  { name: "inputdataconfig.json: a channel named bad/name", files: { [I]: json({ "bad/name": {} }) }, exit: 2, first: cfg(I, "bad/name", "channel name must match") },
  { name: "inputdataconfig.json: a channel named by 65 characters", files: { [I]: json({ ["c".repeat(65)]: {} }) }, exit: 2, first: cfg(I, "c".repeat(65), "channel name must match") },
  { name: "inputdataconfig.json: a channel config that is a string", files: { [I]: json({ train: "s3://x" }) }, exit: 2, first: cfg(I, "train", "channel config must be a JSON object") },
  { name: "inputdataconfig.json: a channel config that is an array", files: { [I]: json({ train: [] }) }, exit: 2, first: cfg(I, "train", "channel config must be a JSON object") },
  { name: "inputdataconfig.json: a NUL byte inside a channel config", files: { [I]: '{"train":{"S3Uri":"s3://b/\\u0000"}}' }, exit: 2, first: cfg(I, "train.S3Uri", "NUL byte") },
  { name: "inputdataconfig.json: 10,000 channels (E2BIG)", files: { [I]: json(Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`channel${i}`, {}]))) }, exit: 2, first: cfg(I, undefined, "131072 bytes"), pid1: true },

  // checkpointconfig.json
  { name: "checkpointconfig.json: LocalPath relative", files: { [C]: json({ LocalPath: "ckpt" }) }, exit: 2, first: cfg(C, "LocalPath", "must be an absolute path") },
  { name: "checkpointconfig.json: LocalPath /", files: { [C]: json({ LocalPath: "/" }) }, exit: 2, first: cfg(C, "LocalPath", "must not be the root directory") },
  { name: "checkpointconfig.json: LocalPath //", files: { [C]: json({ LocalPath: "//" }) }, exit: 2, first: cfg(C, "LocalPath", "must not be the root directory") },
  { name: "checkpointconfig.json: LocalPath a number", files: { [C]: json({ LocalPath: 5 }) }, exit: 2, first: cfg(C, "LocalPath", "must be a non-empty string") },
  { name: "checkpointconfig.json: LocalPath empty", files: { [C]: json({ LocalPath: "" }) }, exit: 2, first: cfg(C, "LocalPath", "must be a non-empty string") },
  { name: "checkpointconfig.json: LocalPath a regular file", setup: (d) => { writeFileSync(path.join(d.base, "file"), "x"); writeFileSync(path.join(d.ml, C), json({ LocalPath: path.join(d.base, "file") })); }, exit: 2, first: cfg(C, "LocalPath", "is a regular file, not a directory"), pid1: true },
  { name: "checkpointconfig.json: LocalPath below a regular file", setup: (d) => { writeFileSync(path.join(d.base, "file"), "x"); writeFileSync(path.join(d.ml, C), json({ LocalPath: path.join(d.base, "file", "ck") })); }, exit: 2, first: cfg(C, "LocalPath", "file is a regular file, not a directory") },
  { name: "checkpointconfig.json: a NUL byte in LocalPath", files: { [C]: '{"LocalPath":"/tmp/ck\\u0000x"}' }, exit: 2, first: cfg(C, "LocalPath", "NUL byte") },
  { name: "checkpointconfig.json: S3Uri not s3://", files: { [C]: json({ S3Uri: "http://bucket/x" }) }, exit: 2, first: cfg(C, "S3Uri", "must look like s3://bucket/prefix") },
  { name: "checkpointconfig.json: S3Uri a number", files: { [C]: json({ S3Uri: 7 }) }, exit: 2, first: cfg(C, "S3Uri", "must be a non-empty string") },

  // options
  { name: "--grace abc", argv: run("--grace", "abc"), exit: 2, first: opt("--grace", '"abc"') },
  { name: "--grace 0", argv: run("--grace", "0"), exit: 2, first: opt("--grace", "above 0") },
  { name: "--grace 1e9", argv: run("--grace", "1e9"), exit: 2, first: opt("--grace", "at most 604800") },
  { name: "--grace= (empty)", argv: run("--grace="), exit: 2, first: opt("--grace", "must not be empty") },
  { name: "--stop-signal SIGKILL", argv: run("--stop-signal", "SIGKILL"), exit: 2, first: opt("--stop-signal", "SIGKILL cannot be a checkpoint request") },
  { name: "--stop-signal NOPE", argv: run("--stop-signal", "NOPE"), exit: 2, first: opt("--stop-signal", 'unknown signal "NOPE"') },
  { name: "--bogus", argv: run("--bogus", "1"), exit: 2, first: opt("--bogus", "unknown option") },
  { name: "--checkpoint-dir -- cmd (-- ends the options)", argv: ["run", "--ml-root", "{ml}", "--checkpoint-dir", "--", "sh", "-c", "echo started > {base}/started"], exit: 2, first: opt("--checkpoint-dir", "needs a value") },
  { name: "--checkpoint-dir /", argv: run("--checkpoint-dir", "/"), exit: 2, first: opt("--checkpoint-dir", "must not be the root directory") },
  { name: "--checkpoint-dir a regular file", argv: run("--checkpoint-dir", "{base}/file"), setup: (d) => writeFileSync(path.join(d.base, "file"), "x"), exit: 2, first: /^trainguard: invalid configuration: --checkpoint-dir: cannot be used as a directory .*is a regular file, not a directory/ },
  { name: "--checkpoint-dir below a regular file", argv: run("--checkpoint-dir", "{base}/file/ck"), setup: (d) => writeFileSync(path.join(d.base, "file"), "x"), exit: 2, first: /^trainguard: invalid configuration: --checkpoint-dir: cannot be used as a directory/ },
  { name: "--job-name abc-", argv: run("--job-name", "abc-"), exit: 2, first: opt("--job-name", 'job name "abc-" must match', "configuration") },
  { name: "--job-name of 64 characters", argv: run("--job-name", "j".repeat(64)), exit: 2, first: opt("--job-name", "1 to 63 characters", "configuration") },
  { name: "--output ftp://x", argv: run("--output", "ftp://x"), exit: 2, first: opt("--output", "is not a storage URI", "configuration") },
  { name: "--output s3:/x", argv: run("--output", "s3:/x"), exit: 2, first: opt("--output", "", "configuration") },
  { name: "--checkpoint-uri s3:/x", argv: run("--checkpoint-uri", "s3:/x"), exit: 2, first: opt("--checkpoint-uri", "s3://", "configuration") },
  { name: "--keep 0", argv: run("--keep", "0"), exit: 2, first: opt("--keep", "at least 1") },
  { name: "--s3-endpoint ftp://x", argv: run("--s3-endpoint", "ftp://x"), exit: 2, first: opt("--s3-endpoint", "must be an http\\(s\\) URL") },
  { name: "--s3-endpoint with credentials", argv: run("--s3-endpoint", "http://user:secret@127.0.0.1:1", "--output", "s3://bucket/p"), exit: 2, first: opt("--s3-endpoint", "must not carry credentials", "configuration") },
  { name: "--compression zip", argv: run("--compression", "zip"), exit: 2, first: opt("--compression", "must be one of auto, gzip") },
  { name: "--model-layout tree", argv: run("--model-layout", "tree"), exit: 2, first: opt("--model-layout", "must be one of archive, files") },
  { name: "--on-complete maybe", argv: run("--on-complete", "maybe"), exit: 2, first: opt("--on-complete", "must be one of keep, package") },
  { name: "--commit-markers a/b", argv: run("--commit-markers", "a/b"), exit: 2, first: opt("--commit-markers", "comma-separated file names") },
  { name: "--log-level loud", argv: run("--log-level", "loud"), exit: 2, first: opt("--log-level", "must be one of fatal") },
  { name: "run without a command", argv: ["run", "--ml-root", "{ml}"], exit: 2, first: opt("run", "needs a command") },
  { name: 'run -- ""', argv: ["run", "--ml-root", "{ml}", "--", ""], exit: 2, first: opt("run arguments", "the command name is empty"), pid1: true },
  { name: "--ml-root a regular file", argv: ["run", "--ml-root", "{ml}.file", "--", "true"], setup: (d) => writeFileSync(`${d.ml}.file`, "x"), exit: 2, first: null, status: null, stderr: /--ml-root \S*ml\.file: is a regular file, not a directory/ },
  { name: "<ml-root>/output a regular file", setup: (d) => writeFileSync(path.join(d.ml, "output"), "x"), exit: 2, first: null, status: null, stderr: /--ml-root \S*ml: cannot hold trainguard's status files in \S*: \S*output is a regular file, not a directory/, pid1: true },

  // environment variables
  { name: "TRAINGUARD_GRACE=soon", env: { TRAINGUARD_GRACE: "soon" }, exit: 2, first: opt("TRAINGUARD_GRACE", '"soon"') },
  { name: "TRAINGUARD_JOB_NAME=abc-", env: { TRAINGUARD_JOB_NAME: "abc-" }, exit: 2, first: opt("TRAINGUARD_JOB_NAME", "must match", "configuration") },
  { name: "TRAINING_JOB_NAME=bad_name", env: { TRAINING_JOB_NAME: "bad_name" }, exit: 2, first: opt("TRAINING_JOB_NAME", "must match", "configuration") },
  { name: "TRAINGUARD_OUTPUT=ftp://x", env: { TRAINGUARD_OUTPUT: "ftp://x" }, exit: 2, first: opt("TRAINGUARD_OUTPUT", "is not a storage URI", "configuration") },
  { name: "TRAINGUARD_CHECKPOINT_URI=s3:/x", env: { TRAINGUARD_CHECKPOINT_URI: "s3:/x" }, exit: 2, first: opt("TRAINGUARD_CHECKPOINT_URI", "s3://", "configuration") },
  { name: "TRAINGUARD_S3_ENDPOINT=ftp://x", env: { TRAINGUARD_S3_ENDPOINT: "ftp://x" }, exit: 2, first: opt("TRAINGUARD_S3_ENDPOINT", "http\\(s\\) URL") },
  { name: "TRAINGUARD_S3_ENDPOINT with credentials", env: { TRAINGUARD_S3_ENDPOINT: "http://u:p@127.0.0.1:1", TRAINGUARD_OUTPUT: "s3://bucket/p" }, exit: 2, first: opt("TRAINGUARD_S3_ENDPOINT", "must not carry credentials", "configuration") },
  { name: "AWS_ENDPOINT_URL_S3 not a URL", env: { AWS_ENDPOINT_URL_S3: "not a url", TRAINGUARD_OUTPUT: "s3://bucket/p" }, exit: 2, first: opt("AWS_ENDPOINT_URL_S3", "not a valid URL", "configuration") },
  { name: "TRAINGUARD_STOP_SIGNAL=KILL", env: { TRAINGUARD_STOP_SIGNAL: "KILL" }, exit: 2, first: opt("TRAINGUARD_STOP_SIGNAL", "SIGKILL cannot be a checkpoint request") },
  { name: "TRAINGUARD_KEEP=-1", env: { TRAINGUARD_KEEP: "-1" }, exit: 2, first: opt("TRAINGUARD_KEEP", "at least 1") },
  { name: "TRAINGUARD_CHECKPOINT_DIR=/", env: { TRAINGUARD_CHECKPOINT_DIR: "/" }, exit: 2, first: opt("TRAINGUARD_CHECKPOINT_DIR", "root directory") },
  { name: "TRAINGUARD_CHECKPOINT_DIR a regular file", env: { TRAINGUARD_CHECKPOINT_DIR: "{base}/file" }, setup: (d) => writeFileSync(path.join(d.base, "file"), "x"), exit: 2, first: /^trainguard: invalid configuration: TRAINGUARD_CHECKPOINT_DIR: cannot be used as a directory/ },
  { name: "TRAINGUARD_COMPRESSION=zstd", env: { TRAINGUARD_COMPRESSION: "zstd" }, exit: 2, first: opt("TRAINGUARD_COMPRESSION", "must be one of") },
  { name: "TRAINGUARD_MODEL_LAYOUT=", env: { TRAINGUARD_MODEL_LAYOUT: "" }, exit: 2, first: opt("TRAINGUARD_MODEL_LAYOUT", "must not be empty") },
  { name: "TRAINGUARD_ML_ROOT a regular file", argv: ["run", "--", "true"], env: { TRAINGUARD_ML_ROOT: "{base}/file" }, setup: (d) => writeFileSync(path.join(d.base, "file"), "x"), exit: 2, first: null, status: null, stderr: /TRAINGUARD_ML_ROOT \S*file: is a regular file, not a directory/ },

  // TRAINGUARD_COMMAND (trainguard train)
  { name: "TRAINGUARD_COMMAND unset", argv: ["train", "--ml-root", "{ml}"], env: { TRAINGUARD_COMMAND: "" }, exit: 2, first: opt("TRAINGUARD_COMMAND", "is not set") },
  { name: "TRAINGUARD_COMMAND not JSON", argv: ["train", "--ml-root", "{ml}"], env: { TRAINGUARD_COMMAND: "python3 train.py" }, exit: 2, first: opt("TRAINGUARD_COMMAND", "it is not JSON") },
  { name: "TRAINGUARD_COMMAND []", argv: ["train", "--ml-root", "{ml}"], env: { TRAINGUARD_COMMAND: "[]" }, exit: 2, first: opt("TRAINGUARD_COMMAND", "non-empty JSON array of strings") },
  { name: 'TRAINGUARD_COMMAND [""]', argv: ["train", "--ml-root", "{ml}"], env: { TRAINGUARD_COMMAND: '[""]' }, exit: 2, first: opt("TRAINGUARD_COMMAND", "non-empty JSON array of strings") },
  { name: "TRAINGUARD_COMMAND [1]", argv: ["train", "--ml-root", "{ml}"], env: { TRAINGUARD_COMMAND: "[1]" }, exit: 2, first: opt("TRAINGUARD_COMMAND", "non-empty JSON array of strings") },
  { name: "TRAINGUARD_COMMAND a JSON string", argv: ["train", "--ml-root", "{ml}"], env: { TRAINGUARD_COMMAND: '"python3 train.py"' }, exit: 2, first: opt("TRAINGUARD_COMMAND", "non-empty JSON array of strings") },
  { name: "TRAINGUARD_COMMAND with a NUL byte", argv: ["train", "--ml-root", "{ml}"], env: { TRAINGUARD_COMMAND: '["sh","-c","echo\\u0000x"]' }, exit: 2, first: /^trainguard: invalid options: TRAINGUARD_COMMAND: field "argument 2": .*NUL byte/, pid1: true },
  { name: "train with command arguments", argv: ["train", "--ml-root", "{ml}", "python3"], exit: 2, first: opt("train", "takes no command arguments") },
  { name: "TRAINGUARD_COMMAND not found", argv: ["train", "--ml-root", "{ml}"], env: { TRAINGUARD_COMMAND: '["/nonexistent/x"]' }, exit: 127, first: /^trainguard: cannot start the algorithm: command not found: "\/nonexistent\/x" \(from TRAINGUARD_COMMAND/, pid1: true },
  { name: "run -- a command not found", argv: ["run", "--ml-root", "{ml}", "--", "/nonexistent/x"], exit: 127, first: /^trainguard: cannot start the algorithm: command not found: "\/nonexistent\/x" \(from run arguments/ },
  { name: "run -- a file that is not executable", argv: ["run", "--ml-root", "{ml}", "--", "{base}/script"], setup: (d) => { writeFileSync(path.join(d.base, "script"), "#!/bin/sh\n"); chmodSync(path.join(d.base, "script"), 0o644); }, exit: 126, first: /^trainguard: cannot start the algorithm: command is not executable/ },
  { name: "run -- a directory", argv: ["run", "--ml-root", "{ml}", "--", "{base}"], exit: 126, first: /^trainguard: cannot start the algorithm: command is not executable/ },

  // an unknown verb
  { name: "an unknown verb (trian)", argv: ["trian"], env: { TRAINGUARD_ML_ROOT: "{ml}" }, exit: 2, first: /^trainguard: unknown command "trian"/ },

  // verify: never touches the ml-root; the problem goes to stderr
  { name: "verify a FIFO", argv: ["verify", "{base}/fifo"], setup: (d) => execFileSync("mkfifo", [path.join(d.base, "fifo")]), exit: 2, first: null, status: null, stderr: /it is a FIFO \(named pipe\), not an archive/ },
  { name: "verify a missing file", argv: ["verify", "{base}/missing.tar.gz"], exit: 2, first: null, status: null, stderr: /cannot open \S*missing\.tar\.gz: ENOENT/ },
  { name: "verify an empty file", argv: ["verify", "{base}/empty"], setup: (d) => writeFileSync(path.join(d.base, "empty"), ""), exit: 2, first: null, status: null, stderr: /empty is empty/ },
  { name: "verify garbage", argv: ["verify", "{base}/garbage"], setup: (d) => writeFileSync(path.join(d.base, "garbage"), "x".repeat(2000)), exit: 2, first: null, status: null, stderr: /cannot read tar stream/ },
  { name: "verify a truncated gzip", argv: ["verify", "{base}/t.tar.gz"], setup: (d) => writeFileSync(path.join(d.base, "t.tar.gz"), Buffer.from([0x1f, 0x8b, 0x08, 0x00])), exit: 2, first: null, status: null, stderr: /UNREADABLE/ },
  { name: "verify without an argument", argv: ["verify"], exit: 2, first: null, status: null, stderr: /Usage: trainguard verify/ },
  { name: "verify two arguments", argv: ["verify", "a", "b"], exit: 2, first: null, status: null, stderr: /Usage: trainguard verify/ },
  { name: "verify a directory without a manifest", argv: ["verify", "{base}/dir"], setup: (d) => { mkdirSync(path.join(d.base, "dir")); writeFileSync(path.join(d.base, "dir", "a"), "a"); }, exit: 1, first: null, status: null, stderr: /no trainguard-manifest\.json|cannot read trainguard-manifest\.json/ },
];
