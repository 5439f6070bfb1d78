import { existsSync } from "node:fs";
import { copyFile, mkdir, stat } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import path from "node:path";
import { CreateTrainingJobCommand, StopTrainingJobCommand, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.js";
import { algorithmImage, checkpointsOf, describeJob, jobRequest, sageMaker, startServe, tempDir, uniqueName, waitForJob, type Serve } from "./helpers.js";

/** Debian's chromium (apt-get install chromium), never a downloaded browser. */
const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI) throw new Error(`the console's browser tests need ${CHROMIUM} in CI (.ci/run installs Debian's chromium)`);
const STOP_TIMEOUT = 6;

/** A plain Node request, to show what the server itself refuses whatever the browser would do. */
function raw(url: string, method: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe.skipIf(!hasChromium)(hasChromium ? "the console, in Debian's chromium" : `the console [skipped: no ${CHROMIUM}]`, () => {
  let serve: Serve;
  let sm: SageMakerClient;
  let image: string;
  let browser: BrowserContext;
  let other: Server;
  let otherOrigin: string;
  let shots: string;

  beforeAll(async () => {
    serve = await startServe({ stopTimeout: STOP_TIMEOUT });
    sm = sageMaker(serve);
    image = await algorithmImage();
    shots = await tempDir("tg-console-");
    browser = await chromium.launchPersistentContext(path.join(shots, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    // Another origin on this machine: a page any site could serve.
    other = createServer((_req, res) => res.end("<!doctype html><title>elsewhere</title>"));
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", () => resolve()));
    otherOrigin = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    other?.close();
    sm?.destroy();
    await serve?.stop();
  });

  it("lists a running job of two hosts; Stop takes it to Stopping then Stopped, and the stop budget shows its phases", async () => {
    const name = uniqueName("console");
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "deaf", { ResourceConfig: { InstanceType: "ml.m5.large", InstanceCount: 2, VolumeSizeInGB: 1 } })));
    await waitFor("a checkpoint", async () => (await checkpointsOf(serve, name)).length >= 1, { timeoutMs: 30_000, intervalMs: 50 });
    const page = await browser.newPage();
    await page.goto(serve.consoleUrl);
    const row = page.locator(`tr[data-job="${name}"]`);
    await row.locator("td.status").filter({ hasText: "InProgress" }).waitFor({ timeout: 10_000 });
    expect(await row.locator("td").nth(5).textContent()).toBe("2");
    // The token left the address bar once read.
    expect(page.url()).not.toContain("token");
    await row.click();
    await page.locator("#job-status").filter({ hasText: "InProgress / Training" }).waitFor({ timeout: 10_000 });
    await page.locator('.log[data-host="algo-2"] pre').filter({ hasText: "algo: saved step-" }).waitFor({ timeout: 10_000 });

    await page.click("#stop");
    await page.locator("#job-status").filter({ hasText: "Stopping" }).waitFor({ timeout: 10_000 });
    await page.locator("#job-status").filter({ hasText: "Stopped / Stopped" }).waitFor({ timeout: 30_000 });
    expect((await describeJob(sm, name)).TrainingJobStatus).toBe("Stopped");
    await page.locator("#budget .phase.save").waitFor({ timeout: 10_000 });
    for (const phase of ["save", "package", "exit", "upload"]) expect(await page.locator(`#budget .phase.${phase}`).count()).toBe(1);
    // The deaf algorithm held the save phase until trainguard's checkpoint deadline: it is most of what was used.
    const widths = await page.$$eval("#budget .phase", (els) => els.map((e) => ({ cls: e.className, w: e.getBoundingClientRect().width })));
    const save = widths.find((w) => w.cls.includes("save"))!.w;
    expect(save).toBeGreaterThan(widths.filter((w) => !w.cls.includes("save")).reduce((a, w) => a + w.w, 0));
    expect(await page.locator("#budget .legend").textContent()).toContain(`SIGKILL at ${STOP_TIMEOUT}.0 s`);
    await page.locator("#verified").filter({ hasText: "verified against trainguard's manifest" }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#timeline li[data-status="Stopping"]').count()).toBe(1);

    const shot = path.join(shots, "console-job.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    // The temp dir goes with the test file; TG_TEST_ARTIFACTS names a directory that keeps a copy.
    if (process.env.TG_TEST_ARTIFACTS) {
      await mkdir(process.env.TG_TEST_ARTIFACTS, { recursive: true });
      await copyFile(shot, path.join(process.env.TG_TEST_ARTIFACTS, "console-job.png"));
    }
    await page.close();
  });

  it("cannot be made to stop a job by a page of another origin, nor by a request without the token", async () => {
    const name = uniqueName("console-xorigin");
    await sm.send(new CreateTrainingJobCommand(jobRequest(name, image, "train")));
    await waitForJob(sm, name, (d) => d.SecondaryStatus === "Training");
    const stopUrl = `${serve.endpoint}/console/jobs/${name}/stop`;
    const token = new URLSearchParams(new URL(serve.consoleUrl).hash.slice(1)).get("token") as string;

    const page = await browser.newPage();
    await page.goto(otherOrigin);
    const attempts = await page.evaluate(
      async ({ url, token }) => {
        const outcome = (p: Promise<Response>) => p.then((r) => `answered ${r.type} ${r.status}`, (e: Error) => `failed: ${e.name}`);
        return {
          // Even knowing the token: the header needs a CORS preflight, which is never granted.
          withToken: await outcome(fetch(url, { method: "POST", headers: { "x-trainguard-console-token": token } })),
          // A "simple" request goes out, and the server refuses it (no token).
          noCors: await outcome(fetch(url, { method: "POST", mode: "no-cors" })),
          read: await outcome(fetch(url.replace(/\/stop$/, ""), { headers: { "x-trainguard-console-token": token } })),
        };
      },
      { url: stopUrl, token },
    );
    expect(attempts).toEqual({ withToken: "failed: TypeError", noCors: "answered opaque 0", read: "failed: TypeError" });
    await page.close();

    // What the server itself answers, whatever the client.
    const host = new URL(serve.endpoint).host;
    expect(await raw(stopUrl, "POST", {})).toBe(403);
    expect(await raw(stopUrl, "POST", { "x-trainguard-console-token": "x".repeat(token.length) })).toBe(403);
    expect(await raw(stopUrl, "POST", { "x-trainguard-console-token": token, origin: otherOrigin })).toBe(403);
    expect(await raw(stopUrl, "GET", { "x-trainguard-console-token": token })).toBe(405);
    expect(await raw(stopUrl, "POST", { "x-trainguard-console-token": token, host: `evil.example:${new URL(serve.endpoint).port}` })).toBe(403);
    expect(await raw(`${serve.endpoint}/console/jobs`, "OPTIONS", { origin: otherOrigin, "access-control-request-method": "POST" })).toBe(403);
    expect(host).toMatch(/^127\.0\.0\.1:\d+$/);

    expect(await describeJob(sm, name)).toMatchObject({ TrainingJobStatus: "InProgress", SecondaryStatus: "Training" });
    await sm.send(new StopTrainingJobCommand({ TrainingJobName: name }));
    expect(await waitForJob(sm, name)).toMatchObject({ TrainingJobStatus: "Stopped" });
  });
});
