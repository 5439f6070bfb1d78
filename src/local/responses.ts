import type { JobRecord } from "./job-record.js";

/** The API's timestamps: epoch seconds as JSON numbers (the JS SDK v3 refuses ISO strings here). */
const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

const ECHOED = [
  "HyperParameters",
  "AlgorithmSpecification",
  "RoleArn",
  "InputDataConfig",
  "OutputDataConfig",
  "ResourceConfig",
  "StoppingCondition",
  "CheckpointConfig",
  "Environment",
  "VpcConfig",
  "Tags",
] as const;

export function describeResponse(job: JobRecord, now = Date.now()): Record<string, unknown> {
  const echoed = Object.fromEntries(ECHOED.filter((k) => k !== "Tags" && job.request[k] !== undefined).map((k) => [k, job.request[k]]));
  const trainingSeconds = job.trainingStartTime === undefined ? undefined : Math.round(((job.trainingEndTime ?? now) - job.trainingStartTime) / 1000);
  return {
    TrainingJobName: job.name,
    TrainingJobArn: job.arn,
    ModelArtifacts: job.s3ModelArtifacts === undefined ? undefined : { S3ModelArtifacts: job.s3ModelArtifacts },
    TrainingJobStatus: job.status,
    SecondaryStatus: job.secondaryStatus,
    FailureReason: job.failureReason,
    ...echoed,
    EnableNetworkIsolation: false,
    EnableInterContainerTrafficEncryption: false,
    EnableManagedSpotTraining: false,
    CreationTime: seconds(job.creationTime),
    TrainingStartTime: seconds(job.trainingStartTime),
    TrainingEndTime: seconds(job.trainingEndTime),
    LastModifiedTime: seconds(job.lastModifiedTime),
    SecondaryStatusTransitions: job.transitions.map((t) => ({ Status: t.Status, StartTime: seconds(t.StartTime), EndTime: seconds(t.EndTime), StatusMessage: t.StatusMessage })),
    TrainingTimeInSeconds: job.trainingEndTime === undefined ? undefined : trainingSeconds,
    BillableTimeInSeconds: job.trainingEndTime === undefined ? undefined : trainingSeconds,
  };
}

export function summaryOf(job: JobRecord): Record<string, unknown> {
  return {
    TrainingJobName: job.name,
    TrainingJobArn: job.arn,
    CreationTime: seconds(job.creationTime),
    TrainingEndTime: seconds(job.trainingEndTime),
    LastModifiedTime: seconds(job.lastModifiedTime),
    TrainingJobStatus: job.status,
    SecondaryStatus: job.secondaryStatus,
  };
}
