import path from "node:path";
import type { FlatGuard, CompressionMode, ModelLayout, StopReason } from "../artifacts/index.js";
import { errorMessage, type JobConfig, type MlPaths } from "../contract/index.js";
import type { Logger } from "../log/index.js";
import { CheckpointRemote } from "./checkpoint-remote.js";
import type { FinishingLimits } from "./clock.js";
import { UNBOUNDED_FLUSH_MS } from "./margins.js";
import { openOutput, type OutputTarget } from "./output.js";
import type { SavedModel } from "./model.js";
import type { StatusFile } from "./status.js";

/**
 * The packaging code (artifacts/: selection, tar, gzip, manifests, and the model's writer) is not
 * needed before the algorithm runs, and loading it was a good part of start-up: it is imported on
 * first use, and the lifecycle's first estimate, made as training starts, loads it then.
 */
const packagingCode = (): Promise<[typeof import("../artifacts/index.js"), typeof import("./model.js")]> =>
  Promise.all([import("../artifacts/index.js"), import("./model.js")]);

/** The job options JobArtifacts reads: `trainguard run`'s and runTraining's options both have them. */
export interface ArtifactSettings {
  readonly compression: CompressionMode;
  readonly modelLayout: ModelLayout;
  /** What a Completed job does with its checkpoints: keep the algorithm's own model dir, or package. */
  readonly onComplete: "keep" | "package";
  /**
   * Where the archive is uploaded (s3:// or file://), as `<output>/<job>/output/model.tar.gz`. With
   * layout files, or a model dir that cannot be written, it streams there straight from the files.
   */
  readonly output?: string | undefined;
  /** Remote checkpoints (resume, background sync); when not given, checkpointconfig.json's S3Uri. */
  readonly checkpointUri?: string | undefined;
  /** Remote checkpoints the sync keeps. */
  readonly keep: number;
  readonly s3Endpoint?: string | undefined;
}

/** How the caller's options are spelled in errors: `--output` for the CLI, `output` for runTraining. */
export interface OptionNames {
  readonly output: string;
  readonly checkpointUri: string;
  readonly modelLayout: string;
  readonly s3Endpoint?: string | undefined;
}

export interface JobArtifactsOptions {
  readonly settings: ArtifactSettings;
  readonly paths: MlPaths;
  readonly config: JobConfig;
  readonly jobName: string;
  readonly checkpointDir: string;
  readonly markers: readonly string[] | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly status: StatusFile;
  readonly optionNames: OptionNames;
  /** What runs the training code, in messages: "the algorithm", "the training function". */
  readonly algorithmNoun: string;
}

/**
 * Where a job's model and checkpoints go besides the checkpoint dir: the model dir, `--output`,
 * and the checkpoint remote. Opened before the algorithm starts (a bad URI fails the job before
 * it can run), resumed from, synced to while training, flushed and packaged into at the end. The
 * supervisor and the in-process library (runTraining) drive the same object, so both produce the
 * same artifact, status fields and problems.
 */
export class JobArtifacts {
  private constructor(
    private readonly opts: JobArtifactsOptions,
    readonly output: OutputTarget | undefined,
    readonly remote: CheckpointRemote | undefined,
  ) {}

  /** Opens `--output` and the checkpoint remote. Throws ConfigError for a URI or option that cannot work. */
  static async open(opts: JobArtifactsOptions): Promise<JobArtifacts> {
    const { config, optionNames, settings } = opts;
    let output: OutputTarget | undefined;
    if (settings.output !== undefined) {
      output = await openOutput({
        uri: settings.output,
        source: optionNames.output,
        s3Endpoint: settings.s3Endpoint,
        s3EndpointSource: optionNames.s3Endpoint,
        jobName: opts.jobName,
        hosts: config.resource.hosts,
        currentHost: config.resource.currentHost,
        env: opts.env,
        log: opts.log,
      });
    }
    const checkpointUri = settings.checkpointUri ?? config.checkpoint.s3Uri;
    const remote =
      checkpointUri === undefined
        ? undefined
        : await CheckpointRemote.open({
            uri: checkpointUri,
            source: settings.checkpointUri !== undefined ? optionNames.checkpointUri : `${opts.paths.checkpointConfig}: S3Uri`,
            s3Endpoint: settings.s3Endpoint,
            s3EndpointSource: optionNames.s3Endpoint,
            hosts: config.resource.hosts,
            currentHost: config.resource.currentHost,
            checkpointDir: opts.checkpointDir,
            markers: opts.markers,
            keep: settings.keep,
            env: opts.env,
            log: opts.log,
          });
    return new JobArtifacts(opts, output, remote);
  }

  /**
   * Before the algorithm starts: the newest complete remote checkpoint into the checkpoint dir.
   * `resumedFrom` is its local path ("": nothing remote, or the download was stopped). A failure is
   * a problem to report, and training must not start: it could overwrite the remote checkpoints.
   */
  async resume(signal: AbortSignal, stopped: () => boolean): Promise<{ kind: "resumed"; resumedFrom: string } | { kind: "failed"; problem: string }> {
    const { remote, opts } = this;
    if (!remote) return { kind: "resumed", resumedFrom: "" };
    await opts.status.transition("InProgress", "Downloading");
    try {
      const result = await remote.resume(signal);
      void opts.status.update({ resumedFrom: result.checkpoint });
      opts.log.info(
        { event: "resume.checkpoint", checkpoint: result.checkpoint, downloadedBytes: result.downloadedBytes, skippedFiles: result.skippedFiles },
        result.checkpoint ? `resuming from ${result.checkpoint}` : "no remote checkpoint: starting fresh",
      );
      return { kind: "resumed", resumedFrom: result.checkpoint === null ? "" : path.join(opts.checkpointDir, result.checkpoint) };
    } catch (err) {
      if (stopped()) return { kind: "resumed", resumedFrom: "" };
      const message = errorMessage(err);
      return { kind: "failed", problem: `trainguard: could not resume from ${remote.uri}: ${message}. trainguard did not start ${opts.algorithmNoun}, so it cannot overwrite the remote checkpoints.` };
    }
  }

  /** While training: every checkpoint that becomes complete goes remote in the background. */
  startSync(): void {
    const { status, log } = this.opts;
    this.remote?.startSync((lag) => {
      void status.update({ checkpointSync: { ...status.current.checkpointSync, lag } });
      log.debug({ event: "sync.lag", ...lag }, `checkpoints not yet remote: ${lag.checkpoints} (${lag.bytes} bytes)`);
    });
  }

  /** Stop path: whatever the background sync has not made remote yet, by the finishing deadline (none: an hour). */
  async flush(limits: FinishingLimits): Promise<void> {
    if (!this.remote) return;
    const { status, log } = this.opts;
    const flush = await this.remote.flush(limits.deadline() ?? Date.now() + UNBOUNDED_FLUSH_MS, limits.signal);
    if (!flush) return;
    void status.update({ checkpointSync: { ...status.current.checkpointSync, flush } });
    if (flush.ok || flush.code === "NO_CHECKPOINT") log.info({ event: "sync.flushed", ...flush }, "checkpoints are remote");
    else log.warn({ event: "sync.flush-failed", ...flush }, `the newest checkpoint is not remote: ${flush.reason}`);
  }

  /**
   * Stopped and Failed jobs get the newest complete checkpoint as their model (a failed job's last
   * checkpoint is what a user needs to debug or resume); a Completed job keeps the model its
   * algorithm wrote unless on-complete is `package`.
   */
  async package(
    reason: StopReason,
    run: { readonly stopping: boolean; readonly limits: FinishingLimits; readonly guard?: FlatGuard },
  ): Promise<SavedModel> {
    const { opts } = this;
    if (reason === "Completed" && opts.settings.onComplete !== "package") return { artifact: null, problem: null };
    await opts.status.transition(run.stopping ? "Stopping" : "InProgress", "Uploading");
    const [, { saveModel }] = await packagingCode();
    return saveModel({
      reason,
      checkpointDir: opts.checkpointDir,
      modelDir: opts.paths.modelDir,
      jobName: opts.status.current.TrainingJobName ?? "unnamed",
      compression: opts.settings.compression,
      layout: opts.settings.modelLayout,
      markers: opts.markers,
      output: this.output,
      limits: run.limits,
      log: opts.log,
      ...(run.guard ? { guard: run.guard } : {}),
      optionNames: { output: opts.optionNames.output, modelLayout: opts.optionNames.modelLayout },
    });
  }

  /** Bytes the stop path would package now (for the checkpoint reserve); undefined when it cannot tell or `signal` aborted the walk. */
  async estimatePackageBytes(signal: AbortSignal): Promise<number | undefined> {
    const { opts } = this;
    try {
      const [{ estimatePackageBytes }] = await packagingCode();
      return await estimatePackageBytes(opts.checkpointDir, { signal, ...(opts.markers ? { markers: [...opts.markers] } : {}) });
    } catch (err) {
      if (!signal.aborted) opts.log.debug({ event: "estimate.error", err }, "could not measure the checkpoint size");
      return undefined;
    }
  }
}
