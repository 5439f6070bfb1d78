import type { Logger } from "../log/index.js";
import type { ObjectStore } from "../storage/index.js";
import type { CheckpointSync, FlushResult, ResumeResult, SyncLag } from "../sync/index.js";

export interface CheckpointRemoteOptions {
  readonly uri: string;
  readonly source: string;
  readonly s3Endpoint: string | undefined;
  /** How the user set s3Endpoint, for errors. */
  readonly s3EndpointSource?: string | undefined;
  readonly hosts: readonly string[];
  readonly currentHost: string;
  readonly checkpointDir: string;
  readonly markers: readonly string[] | undefined;
  readonly keep: number;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
}

/**
 * The remote side of checkpoints (`--checkpoint-uri`, or checkpointconfig.json's S3Uri): resume
 * before the algorithm starts, background sync while it trains, and the flush of whatever is not
 * yet remote on the stop path. Loaded only for jobs that have a checkpoint URI.
 */
export class CheckpointRemote {
  private sync: CheckpointSync | undefined;

  private constructor(
    private readonly options: CheckpointRemoteOptions,
    private readonly store: ObjectStore,
    private readonly prefix: string,
    private readonly modules: { sync: typeof import("../sync/index.js") },
    private readonly copyObject: import("../sync/index.js").CopyObject | undefined,
  ) {}

  /** Validates the URI (a ConfigError before the algorithm starts) and opens the store. */
  static async open(options: CheckpointRemoteOptions): Promise<CheckpointRemote> {
    const [storage, sync] = await Promise.all([import("../storage/index.js"), import("../sync/index.js")]);
    const location = storage.parseStorageUri(options.uri, options.source);
    const client =
      location.kind === "s3" ? storage.createS3Client({ env: options.env, ...(options.s3Endpoint ? { endpoint: options.s3Endpoint, endpointSource: options.s3EndpointSource ?? "s3Endpoint" } : {}) }) : undefined;
    const store = storage.openStore(location, { log: options.log, ...(client ? { client } : {}) });
    // Hosts of one job write the same checkpoint names: each gets its own folder when there are several.
    const prefix = options.hosts.length > 1 ? storage.joinKey(location, options.currentHost) : location.prefix;
    const copyObject = client && location.kind === "s3" ? sync.s3CopyObject(client, location.bucket) : undefined;
    return new CheckpointRemote(options, store, prefix, { sync }, copyObject);
  }

  get uri(): string {
    return this.options.uri;
  }

  /** Newest complete remote checkpoint into the checkpoint dir; aborted by `signal` (a stop). */
  resume(signal: AbortSignal): Promise<ResumeResult> {
    return this.modules.sync.resumeFromRemote({
      store: this.store,
      prefix: this.prefix,
      checkpointDir: this.options.checkpointDir,
      ...(this.options.markers ? { markers: this.options.markers } : {}),
      signal,
      log: this.options.log,
    });
  }

  startSync(onLag: (lag: SyncLag) => void): void {
    this.sync = new this.modules.sync.CheckpointSync({
      checkpointDir: this.options.checkpointDir,
      store: this.store,
      prefix: this.prefix,
      keep: this.options.keep,
      log: this.options.log,
      onLag,
      ...(this.options.markers ? { markers: this.options.markers } : {}),
      ...(this.copyObject ? { copyObject: this.copyObject } : {}),
    });
    this.sync.start();
  }

  /** Stop path: make the newest complete checkpoint remote by `deadline`, then stop syncing. */
  async flush(deadline: number, signal: AbortSignal): Promise<FlushResult | undefined> {
    const sync = this.sync;
    if (!sync) return undefined;
    try {
      return await sync.flush({ deadline, signal });
    } finally {
      await sync.stop();
    }
  }
}
