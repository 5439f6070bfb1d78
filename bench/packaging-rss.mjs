// Peak memory while packaging 4 GiB (issue 3): four 1 GiB incompressible files (hard links to the
// same random file, so 1 GiB of page cache serves 4 GiB of reads; no packer here treats hard links
// specially) plus 1,000 small files. packageCheckpoint runs in a child process; the parent
// samples its VmRSS every 100 ms and reads VmHWM (the kernel's peak) at the end. `auto` (stored
// for this data) and `fast` (gzip level 1: the parallel deflate path) are both measured. The
// figure that matters is that memory does not grow with the bytes: the peak in each quarter of
// the run is shown.
import { BenchData, GiB } from "./lib/data.mjs";
import { PACKAGE_CHILD, clearOutput, mb, nodeChild, quarters } from "./lib/harness.mjs";
import { fmt } from "./lib/stats.mjs";

export const meta = { name: "packaging-rss", aliases: ["pack-rss"], title: "Peak RSS while packaging 4 GiB (child process, /proc sampled)", data: true };

const LIMIT_MB = 150;

export async function run(ctx) {
  const data = new BenchData(ctx.options.dataDir, (m) => ctx.progress(m));
  const r0 = data.randomFile(0);
  const { ckRoot, stepDir } = data.checkpoint("c4g", { big: [r0, r0, r0, r0], small: "A" });
  data.warm(r0);
  const out = data.scratch("packaging-rss");
  const modes = ctx.options.rssModes ?? ["auto", "fast"];
  const results = {};
  const rows = [];
  for (const mode of modes) {
    ctx.progress(`packaging-rss: 4 GiB, ${mode}`);
    const child = await nodeChild(PACKAGE_CHILD, { ckRoot, modelDir: out, compression: mode }, { sample: true });
    clearOutput(out);
    const q = quarters(child.samples.series).map((kb) => kb / 1024);
    const r = {
      compression: `${child.compression}${child.gzipLevel !== undefined ? ` (${child.gzipLevel})` : ""}`,
      inputBytes: child.inputBytes,
      seconds: child.seconds,
      vmHWMMB: child.vmHWMkB / 1024,
      sampledPeakRSSMB: child.samples.peakRSSkB / 1024,
      startRSSMB: child.vmRSSkBBefore / 1024,
      quarterPeaksMB: q,
      underLimit: child.vmHWMkB / 1024 < LIMIT_MB,
      rssSeries: child.samples.series.filter((_, i) => i % 10 === 0),
    };
    results[mode] = r;
    rows.push([`trainguard ${mode}`, r.compression, fmt(mb(r.inputBytes), 0), fmt(r.seconds, 1), fmt(r.startRSSMB, 0), q.map((x) => fmt(x, 0)).join(" / "), fmt(r.vmHWMMB, 0), r.underLimit ? "yes" : "NO"]);
  }
  ctx.progressDone();
  return {
    params: { data: `${stepDir}: 4 x 1 GiB (hard links to one random file) + 1,000 small files`, limitMB: LIMIT_MB, bytes: 4 * GiB },
    results,
    table: { columns: ["variant", "compression", "input MB", "s", "RSS before MB", "peak RSS per quarter MB", "VmHWM MB", `< ${LIMIT_MB} MB`], rows },
    notes: ["VmHWM is the kernel's high-water mark of the packaging process (Node itself included: ~55 MB before packaging starts)."],
  };
}
