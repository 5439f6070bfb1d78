import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { formatVerifyReport, verifyArchive } from "../../artifacts/index.js";
import { mlPaths } from "../../contract/index.js";
import type { JobStatusDocument } from "../../supervisor/index.js";

const STOP_AFTER_MS = 3_500;
const DEMO_GRACE_SECONDS = 20;

/**
 * `trainguard demo`: the whole stop path on this machine, no AWS account needed. A bundled
 * algorithm trains under `trainguard run` on a temporary ml-root, gets SIGTERM a few seconds in,
 * and the outcome is read back from the files a platform would read.
 */
export async function runDemo(): Promise<number> {
  const mlRoot = await mkdtemp(path.join(tmpdir(), "trainguard-demo-"));
  const paths = mlPaths(mlRoot);
  const entry = fileURLToPath(new URL("../entry.js", import.meta.url));
  const algorithm = fileURLToPath(new URL("./algorithm.js", import.meta.url));
  say(`ml-root: ${mlRoot}`);
  say(`running: trainguard run --ml-root ${mlRoot} --grace ${DEMO_GRACE_SECONDS} -- node ${path.basename(algorithm)}`);
  const job = execa(process.execPath, [entry, "run", "--ml-root", mlRoot, "--grace", String(DEMO_GRACE_SECONDS), "--job-name", "trainguard-demo", "--", process.execPath, algorithm], {
    stdio: "inherit",
    reject: false,
  });
  await new Promise((resolve) => setTimeout(resolve, STOP_AFTER_MS));
  say(`sending SIGTERM to trainguard (pid ${job.pid}), as StopTrainingJob or docker kill -s TERM would`);
  const sentAt = Date.now();
  job.kill("SIGTERM");
  const result = await job;
  const tookMs = Date.now() - sentAt;

  const status = JSON.parse(await readFile(paths.statusFile, "utf8")) as JobStatusDocument;
  const checkpointDir = path.join(mlRoot, "checkpoints");
  const checkpoints = (await readdir(checkpointDir)).filter((n) => !n.startsWith(".")).sort();
  say("");
  say("result");
  say(`  status:           ${status.TrainingJobStatus} (${status.transitions.map((t) => t.secondaryStatus).join(" -> ")})`);
  say(`  exit code:        ${result.exitCode ?? result.signal}`);
  say(`  stop took:        ${tookMs} ms of a ${DEMO_GRACE_SECONDS} s budget`);
  say(`  checkpoints:      ${checkpoints.length} complete, newest ${checkpoints.at(-1) ?? "none"} in ${checkpointDir}`);
  say(`  artifact:         ${status.artifact ? `${status.artifact.path} (${status.artifact.bytes} bytes, sha256 ${status.artifact.sha256.slice(0, 16)}...)` : "none"}`);
  say(`  status file:      ${paths.statusFile}`);
  let verified = false;
  if (status.artifact) {
    const report = await verifyArchive(status.artifact.path);
    verified = report.ok;
    say(`  verify:           ${formatVerifyReport(report).split("\n")[0]}`);
    say(`                    (same as: trainguard verify ${status.artifact.path})`);
  }
  const ok = status.TrainingJobStatus === "Stopped" && result.exitCode === 0 && verified;
  say(ok ? "demo: the stopped job left a valid model" : "demo: unexpected outcome, see the logs above");
  return ok ? 0 : 1;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
