import { describe, expect, it } from "vitest";
import { algorithmEnv, mlPaths, parseChannels, parseResourceConfig, decodeHyperparameters } from "../../src/contract/index.js";

describe("algorithmEnv", () => {
  const paths = mlPaths("/opt/ml");
  const env = algorithmEnv({
    jobName: "job-1",
    paths,
    checkpointDir: "/opt/ml/checkpoints",
    graceSeconds: 120,
    config: {
      rawHyperparameters: { epochs: "3", "learning-rate": "0.1", arch: "resnet" },
      hyperparameters: decodeHyperparameters({ epochs: "3", "learning-rate": "0.1", arch: "resnet" }),
      resource: parseResourceConfig({ current_host: "algo-1", hosts: ["algo-1", "algo-2"] }, "rc"),
      channels: parseChannels({ train: {}, test: {} }, "idc", paths.dataDir),
      checkpoint: { localPath: undefined, s3Uri: undefined },
    },
  });

  it("exports the variables the AWS toolkit exports", () => {
    expect(env.SM_MODEL_DIR).toBe("/opt/ml/model");
    expect(JSON.parse(env.SM_CHANNELS as string)).toEqual(["test", "train"]);
    expect(env.SM_CHANNEL_TRAIN).toBe("/opt/ml/input/data/train");
    expect(JSON.parse(env.SM_HPS as string)).toEqual({ epochs: 3, "learning-rate": 0.1, arch: "resnet" });
    expect(env.SM_HP_EPOCHS).toBe("3");
    expect(env.SM_HP_LEARNING_RATE).toBe("0.1");
    expect(env.SM_HP_ARCH).toBe("resnet");
    expect(env.SM_CURRENT_HOST).toBe("algo-1");
    expect(JSON.parse(env.SM_HOSTS as string)).toEqual(["algo-1", "algo-2"]);
    expect(env.SM_OUTPUT_DATA_DIR).toBe("/opt/ml/output/data");
    expect(env.SM_OUTPUT_DIR).toBe("/opt/ml/output");
    expect(env.SM_INPUT_DIR).toBe("/opt/ml/input");
    expect(env.SM_INPUT_CONFIG_DIR).toBe("/opt/ml/input/config");
    expect(Number(env.SM_NUM_CPUS)).toBeGreaterThan(0);
    expect(Number(env.SM_NUM_GPUS)).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(env.SM_USER_ARGS as string)).toEqual(["--epochs", "3", "--learning-rate", "0.1", "--arch", "resnet"]);
    expect(JSON.parse(env.SM_RESOURCE_CONFIG as string)).toEqual({ current_host: "algo-1", hosts: ["algo-1", "algo-2"] });
    expect(JSON.parse(env.SM_TRAINING_ENV as string)).toMatchObject({ job_name: "job-1", current_host: "algo-1", checkpoint_dir: "/opt/ml/checkpoints" });
    expect(JSON.parse(env.SM_INPUT_DATA_CONFIG as string)).toEqual({ test: {}, train: {} });
  });

  it("adds trainguard's own variables", () => {
    expect(env.SM_CHECKPOINT_DIR).toBe("/opt/ml/checkpoints");
    expect(env.TRAINGUARD_GRACE_SECONDS).toBe("120");
    expect(env.TRAINGUARD_STOP_FILE).toBe("/opt/ml/output/trainguard/stop-request.json");
    expect(env.TRAINING_JOB_NAME).toBe("job-1");
  });
});
