import type { Job } from 'bullmq';
import type { ConfirmationJobData } from '../domain/jobs.js';
import type { JobResult } from '../domain/record.js';
import type { ConfirmationSpec } from '../providers/spec.js';
import { runAttempt } from './attempt-runner.js';
import type { ProcessorFactory } from './processor.js';

/** Seeds 000–002 and Click: POST `{<id field>, qr_code}` and classify the answer. */
export const confirmProcessorFactory: ProcessorFactory<ConfirmationSpec> = ({ spec, ctx, transports }) => {
  const transport = transports.for(spec.base);
  return (job: Job<ConfirmationJobData>): Promise<JobResult> =>
    runAttempt(ctx, job, async () => {
      const body = JSON.stringify({ [spec.idField]: job.data[spec.idField], qr_code: job.data.qr_code });
      const answer = await transport.send('POST', spec.path, body);
      return { answer, outcome: spec.classify(answer) };
    });
};
