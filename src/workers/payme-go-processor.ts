import type { Job } from 'bullmq';
import type { ConfirmationIntake } from '../domain/enqueue.js';
import type { PaymentJobData } from '../domain/jobs.js';
import { ambiguous } from '../domain/outcome.js';
import type { JobResult } from '../domain/record.js';
import type { Logger } from '../observability/logger.js';
import { paymeGoRequestBody } from '../providers/payme-go.js';
import type { PaymentSpec } from '../providers/spec.js';
import { runAttempt } from './attempt-runner.js';
import { currentRun, patchProgress, readProgress } from './job-progress.js';
import type { ProcessorFactory } from './processor.js';

/**
 * Where a charge stands, on the job's progress. `sending` is written before the request goes out and removed only when
 * the request provably never left; finding it on a job of the same run means a worker stopped (crash, lost lock) after
 * the charge may have been sent. `charged` keeps the provider's answer, so the steps after a charge never repeat it.
 */
type ChargeState = { state: 'sending'; run: number; at: string } | { state: 'charged'; result: JobResult };

/** Seed 003: charge a customer's Payme code at most once; then, if asked, attach the fiscal receipt (seed 000). */
export const paymeGoProcessorFactory: ProcessorFactory<PaymentSpec> = ({ spec, ctx, transports, deps }) => {
  const transport = transports.for(spec.base);
  return async (job: Job<PaymentJobData>): Promise<JobResult> => {
    const log = ctx.logger.child({ job_id: job.id, provider: spec.name });
    const charge = readProgress(job).charge as ChargeState | undefined;
    const result = charge?.state === 'charged' ? charge.result : await chargeOnce(job, charge, log);
    if (!job.data.fiscal_qr_code) return result;
    const links = await enqueueConfirmation(deps.confirmations, spec, job, result, log);
    return links ? { ...result, links } : result;
  };

  async function chargeOnce(job: Job<PaymentJobData>, charge: ChargeState | undefined, log: Logger): Promise<JobResult> {
    const run = currentRun(job);
    const interrupted = charge?.state === 'sending' && charge.run === run ? charge : undefined;
    const result = await runAttempt(ctx, job, async () => {
      if (interrupted) {
        return { answer: undefined, outcome: ambiguous('interrupted', `an earlier attempt (started ${interrupted.at}) stopped after the charge may have been sent; check it before replaying`) };
      }
      await patchProgress(job, { charge: { state: 'sending', run, at: new Date().toISOString() } satisfies ChargeState });
      const answer = await transport.send('POST', spec.path, paymeGoRequestBody(job.data));
      if (answer.kind === 'network' && !answer.requestSent) {
        // Never sent: the retry may charge. Should this write fail, the retry sees `sending` and stops: safe side.
        await patchProgress(job, { charge: undefined }).catch((err: unknown) => log.warn({ err }, 'could not clear the charge marker'));
      }
      return { answer, outcome: spec.classify(answer) };
    });
    // Best effort: without it a re-run after a crash right here is dead-lettered as ambiguous, never charged again.
    await patchProgress(job, { charge: { state: 'charged', result } satisfies ChargeState }).catch((err: unknown) => log.warn({ err }, 'could not record the charge'));
    return result;
  }
};

/**
 * The charge → confirm chain (CONTRACT §3): the confirmation's id is `payme.<payment_id>`, so a re-run of this job finds
 * the one it enqueued before (duplicate) instead of making a second. Both records link to each other. Redis trouble
 * throws: the job is retried, and the re-run skips the charge (`charged` above).
 */
async function enqueueConfirmation(confirmations: ConfirmationIntake, spec: PaymentSpec, job: Job<PaymentJobData>, result: JobResult, log: Logger): Promise<JobResult['links']> {
  const paymentId = (result.data as { payment_id: string }).payment_id;
  const outcome = await confirmations.enqueue({ provider: spec.confirmWith, payment_id: paymentId, qr_code: job.data.fiscal_qr_code }, { links: { [spec.name]: job.id! } });
  if (outcome.result === 'invalid') {
    log.error({ problems: outcome.problems }, 'charged, but the confirmation could not be enqueued');
    return undefined;
  }
  if (outcome.result === 'conflict') log.warn({ record_id: outcome.id }, 'charged; a confirmation with another receipt already exists for this payment');
  else log.info({ record_id: outcome.id, result: outcome.result }, 'charged; confirmation enqueued');
  return { [`${spec.confirmWith}_confirm`]: outcome.id };
}
