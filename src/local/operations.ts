import { ApiError, resourceInUse, resourceNotFound, validationError } from "./api-error.js";
import { isEnded, transition, type JobRecord } from "./job-record.js";
import type { JobRunner } from "./job-runner.js";
import { listJobs, type ListQuery } from "./list-jobs.js";
import type { JobRegistry } from "./registry.js";
import { describeResponse, summaryOf } from "./responses.js";
import { CREATE_TRAINING_JOB, DESCRIBE_TRAINING_JOB, LIST_TRAINING_JOBS, STOP_TRAINING_JOB } from "./training-shapes.js";
import { readTrainingRequest } from "./training-request.js";
import { validateInput, type Shape } from "./validation.js";

type Input = Record<string, unknown>;
type Handler = (input: Input) => Promise<Record<string, unknown> | undefined>;

/** The account id in ARNs: there is no account, and AWS's docs use this one. */
export const LOCAL_ACCOUNT_ID = "123456789012";

/** The SageMaker operations this platform serves, each validated on its shape before it runs. */
export function sageMakerOperations(registry: JobRegistry, runner: JobRunner, region: string): ReadonlyMap<string, Handler> {
  const checked = (shape: Shape, handler: Handler): Handler => (input) => {
    validateInput(shape, input);
    return handler(input);
  };
  return new Map<string, Handler>([
    [
      "CreateTrainingJob",
      checked(CREATE_TRAINING_JOB, async (input) => {
        const name = input.TrainingJobName as string;
        readTrainingRequest(input);
        const now = Date.now();
        const arn = `arn:aws:sagemaker:${region}:${LOCAL_ACCOUNT_ID}:training-job/${name.toLowerCase()}`;
        const job: JobRecord = { name, arn, request: input, status: "InProgress", secondaryStatus: "Starting", transitions: [], creationTime: now, lastModifiedTime: now };
        transition(job, "Starting", "InProgress", now);
        if (registry.get(name) !== undefined || !(await registry.add(job))) throw resourceInUse(`Training job names must be unique within an AWS account and region, and a training job with this name already exists (${arn})`);
        runner.start(job);
        return { TrainingJobArn: arn };
      }),
    ],
    [
      "DescribeTrainingJob",
      checked(DESCRIBE_TRAINING_JOB, async (input) => {
        const job = registry.get(input.TrainingJobName as string);
        // What the service answers here (unlike StopTrainingJob's ResourceNotFound).
        if (job === undefined) throw validationError("Requested resource not found.");
        return describeResponse(job);
      }),
    ],
    [
      "StopTrainingJob",
      checked(STOP_TRAINING_JOB, async (input) => {
        const name = input.TrainingJobName as string;
        const job = registry.get(name);
        if (job === undefined) throw resourceNotFound(`Requested resource not found: training job ${name} does not exist`);
        if (isEnded(job.status) || !(await runner.stop(job, "StopTrainingJob"))) {
          throw validationError(`The request was rejected because the training job is in status ${job.status}.`);
        }
        return undefined;
      }),
    ],
    [
      "ListTrainingJobs",
      checked(LIST_TRAINING_JOBS, async (input) => {
        const { page, nextToken } = listJobs(registry.all(), input as ListQuery);
        return { TrainingJobSummaries: page.map(summaryOf), ...(nextToken === undefined ? {} : { NextToken: nextToken }) };
      }),
    ],
  ]);
}

export { ApiError };
