import type { Shape } from "./validation.js";

// Constraints of the SageMaker API model (2017-07-24) for the members this platform reads. Those
// it does not use (Tags, VpcConfig, ...) are accepted and ignored, as unknown members are.

const jobName: Shape = { type: "string", min: 1, max: 63, pattern: "^[a-zA-Z0-9](-*[a-zA-Z0-9])*" };
const s3Uri: Shape = { type: "string", max: 1024, pattern: "^(https|s3)://([^/]+)/?(.*)$" };
const containerArgs: Shape = { type: "list", min: 1, max: 100, member: { type: "string", min: 1, max: 256, pattern: ".*" } };
const inputMode: Shape = { type: "string", enum: ["Pipe", "File", "FastFile"] };
const statuses = ["InProgress", "Completed", "Failed", "Stopping", "Stopped"] as const;

export const STOP_TRAINING_JOB: Shape = { type: "structure", required: ["TrainingJobName"], members: { TrainingJobName: jobName } };
export const DESCRIBE_TRAINING_JOB: Shape = STOP_TRAINING_JOB;

export const CREATE_TRAINING_JOB: Shape = {
  type: "structure",
  required: ["TrainingJobName", "RoleArn", "OutputDataConfig"],
  members: {
    TrainingJobName: jobName,
    RoleArn: { type: "string", min: 20, max: 2048, pattern: "^arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$" },
    AlgorithmSpecification: {
      type: "structure",
      members: {
        TrainingImage: { type: "string", max: 255, pattern: ".*" },
        AlgorithmName: { type: "string", min: 1, max: 170 },
        TrainingInputMode: inputMode,
        ContainerEntrypoint: containerArgs,
        ContainerArguments: containerArgs,
        EnableSageMakerMetricsTimeSeries: { type: "boolean" },
      },
    },
    HyperParameters: { type: "map", max: 100, key: { type: "string", max: 256, pattern: ".*" }, value: { type: "string", max: 2500, pattern: ".*" } },
    Environment: { type: "map", max: 100, key: { type: "string", max: 512, pattern: "[a-zA-Z_][a-zA-Z0-9_]*" }, value: { type: "string", max: 512, pattern: "[\\S\\s]*" } },
    InputDataConfig: {
      type: "list",
      min: 1,
      max: 20,
      member: {
        type: "structure",
        required: ["ChannelName", "DataSource"],
        members: {
          ChannelName: { type: "string", min: 1, max: 64, pattern: "[A-Za-z0-9\\.\\-_]+" },
          DataSource: {
            type: "structure",
            members: {
              S3DataSource: {
                type: "structure",
                required: ["S3DataType", "S3Uri"],
                members: {
                  S3DataType: { type: "string", enum: ["ManifestFile", "S3Prefix", "AugmentedManifestFile", "Converse"] },
                  S3Uri: s3Uri,
                  S3DataDistributionType: { type: "string", enum: ["FullyReplicated", "ShardedByS3Key"] },
                },
              },
            },
          },
          ContentType: { type: "string", max: 256, pattern: ".*" },
          CompressionType: { type: "string", enum: ["None", "Gzip"] },
          RecordWrapperType: { type: "string", enum: ["None", "RecordIO"] },
          InputMode: inputMode,
        },
      },
    },
    OutputDataConfig: {
      type: "structure",
      required: ["S3OutputPath"],
      members: { S3OutputPath: s3Uri, KmsKeyId: { type: "string", max: 2048 }, CompressionType: { type: "string", enum: ["GZIP", "NONE"] } },
    },
    ResourceConfig: {
      type: "structure",
      members: {
        InstanceType: { type: "string", pattern: "^ml\\.[a-z0-9.-]+$|^local$" },
        InstanceCount: { type: "integer", min: 0 },
        VolumeSizeInGB: { type: "integer", min: 0 },
      },
    },
    StoppingCondition: {
      type: "structure",
      members: { MaxRuntimeInSeconds: { type: "integer", min: 1 }, MaxWaitTimeInSeconds: { type: "integer", min: 1 }, MaxPendingTimeInSeconds: { type: "integer", min: 7200, max: 2419200 } },
    },
    CheckpointConfig: {
      type: "structure",
      required: ["S3Uri"],
      members: { S3Uri: s3Uri, LocalPath: { type: "string", max: 4096, pattern: ".*" } },
    },
  },
};

export const LIST_TRAINING_JOBS: Shape = {
  type: "structure",
  members: {
    NextToken: { type: "string", max: 8192, pattern: ".*" },
    MaxResults: { type: "integer", min: 1, max: 100 },
    CreationTimeAfter: { type: "timestamp" },
    CreationTimeBefore: { type: "timestamp" },
    LastModifiedTimeAfter: { type: "timestamp" },
    LastModifiedTimeBefore: { type: "timestamp" },
    NameContains: { type: "string", max: 63, pattern: "[a-zA-Z0-9\\-]+" },
    StatusEquals: { type: "string", enum: statuses },
    SortBy: { type: "string", enum: ["Name", "CreationTime", "Status"] },
    SortOrder: { type: "string", enum: ["Ascending", "Descending"] },
  },
};
