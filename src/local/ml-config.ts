import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { mlPaths } from "../contract/index.js";
import type { TrainingRequest } from "./training-request.js";

/**
 * The job's ml-root as SageMaker prepares /opt/ml before the container starts: the four config
 * files under input/config, and empty model, output/data and channel directories. Every host of
 * the job gets its own, naming itself in resourceconfig.json. Processes all share the loopback
 * interface; a container sees its ml-root at /opt/ml and the job's network on its eth0.
 */
export async function prepareMlRoot(mlRoot: string, request: TrainingRequest, host: string, hosts: readonly string[]): Promise<void> {
  const inContainer = request.container !== undefined;
  const paths = mlPaths(mlRoot);
  for (const dir of [paths.inputConfigDir, paths.modelDir, paths.outputDataDir, ...request.channels.map((c) => path.join(paths.dataDir, c.name))]) {
    await mkdir(dir, { recursive: true });
  }
  const files: [string, unknown][] = [
    [paths.hyperparameters, request.hyperParameters],
    [
      paths.resourceConfig,
      {
        current_host: host,
        current_instance_type: request.instanceType,
        current_group_name: "homogeneousCluster",
        hosts,
        instance_groups: [{ instance_group_name: "homogeneousCluster", instance_type: request.instanceType, hosts }],
        network_interface_name: inContainer ? "eth0" : "lo",
      },
    ],
    [
      paths.inputDataConfig,
      Object.fromEntries(
        request.channels.map((c) => [
          c.name,
          { TrainingInputMode: "File", S3DistributionType: "FullyReplicated", RecordWrapperType: "None", ...(c.contentType ? { ContentType: c.contentType } : {}) },
        ]),
      ),
    ],
  ];
  if (request.checkpoint) files.push([paths.checkpointConfig, { LocalPath: path.join(inContainer ? "/opt/ml" : mlRoot, request.checkpoint.localPath), S3Uri: request.checkpoint.s3Uri }]);
  for (const [file, content] of files) await writeFile(file, `${JSON.stringify(content, null, 2)}\n`);
}
