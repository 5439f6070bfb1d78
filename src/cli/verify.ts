import { formatVerifyReport, verifyArchive } from "../artifacts/index.js";
import { EXIT_CONFIG_ERROR } from "../contract/index.js";

export const EXIT_VERIFY_MISMATCH = 1;
export const EXIT_VERIFY_UNREADABLE = 2;

/** `trainguard verify <archive>`: 0 when every file matches the manifest, 1 when not, 2 when unreadable. */
export async function runVerify(args: readonly string[]): Promise<number> {
  const [target, ...extra] = args;
  if (target === undefined || extra.length > 0) {
    process.stderr.write("Usage: trainguard verify <model.tar.gz|model.tar>\n");
    return EXIT_CONFIG_ERROR;
  }
  const report = await verifyArchive(target);
  const text = formatVerifyReport(report);
  (report.ok ? process.stdout : process.stderr).write(text.endsWith("\n") ? text : `${text}\n`);
  if (report.ok) return 0;
  return report.readable ? EXIT_VERIFY_MISMATCH : EXIT_VERIFY_UNREADABLE;
}
