import type { Job } from 'bullmq';
import { describeProblems, type FieldProblem } from '../domain/problems.js';
import type { ConfirmationJobData } from '../domain/jobs.js';
import { clientError } from '../domain/outcome.js';
import type { JobResult } from '../domain/record.js';
import type { ConfirmationSpec } from '../providers/spec.js';
import { refuseWithoutCall, runAttempt } from './attempt-runner.js';
import type { ProcessorFactory } from './processor.js';

/** A confirmation the product had to make but could not validate (the charge → confirm chain): producers' `hold`. */
type HeldData = Record<string, unknown> & { held: { problems: FieldProblem[] } };

/** Seeds 000–002 and Click: POST `{<id field>, qr_code}` and classify the answer. */
export const confirmProcessorFactory: ProcessorFactory<ConfirmationSpec> = ({ spec, ctx, transports, deps }) => {
  const transport = transports.for(spec.base);
  return async (job: Job<ConfirmationJobData>): Promise<JobResult> => {
    if ('held' in job.data) await releaseHeld(job as unknown as Job<HeldData>);
    return runAttempt(ctx, job, async () => {
      const body = JSON.stringify({ [spec.idField]: job.data[spec.idField], qr_code: job.data.qr_code });
      const answer = await transport.send('POST', spec.path, body);
      return { answer, outcome: spec.classify(answer) };
    });
  };

  /**
   * A held confirmation ends dead with its reason, until a replay finds it valid (the cause was fixed: say,
   * QR_ALLOWED_HOSTS): its data is then the validated form, and it goes out like any other.
   */
  async function releaseHeld(job: Job<HeldData>): Promise<void> {
    const { held, links, ...fields } = job.data;
    const checked = deps.confirmations.revalidate({ ...fields, provider: spec.name });
    if (!checked.ok) {
      const problems = checked.problems.length ? checked.problems : held.problems;
      refuseWithoutCall(ctx, job, clientError('invalid_confirmation', `the confirmation this record was made for is not valid: ${describeProblems(problems)}; fix the cause, then replay it`));
    }
    await job.updateData({ ...checked.data, ...(links ? { links } : {}) } as HeldData);
  }
};
