import type { Job } from 'bullmq';
import { decodeAttempts } from '../domain/attempt.js';
import type { ConfirmationIntake } from '../domain/enqueue.js';
import { forcedRun } from '../domain/forced-replay.js';
import type { PaymentJobData } from '../domain/jobs.js';
import { ambiguous } from '../domain/outcome.js';
import type { JobResult } from '../domain/record.js';
import type { Logger } from '../observability/logger.js';
import { paymeGoRequestBody } from '../providers/payme-go.js';
import type { PaymentSpec } from '../providers/spec.js';
import { refuseWithoutCall, runAttempt, type AttemptContext } from './attempt-runner.js';
import { currentRun, patchProgress, readProgress } from './job-progress.js';
import type { ProcessorFactory } from './processor.js';

/**
 * Where a charge stands, on the job's progress. `sending` is written before the request goes out and removed only when
 * the request provably never left; finding it means a worker stopped (crash, lost lock) after the charge may have been
 * sent. `charged` keeps the provider's answer, so the steps after a charge never repeat it.
 */
type ChargeState = { state: 'sending'; run: number; at: string } | { state: 'charged'; result: JobResult };

/**
 * Seed 003: charge a customer's Payme code at most once; then, if asked, attach the fiscal receipt (seed 000).
 *
 * The at-most-once rule lives here, not in the callers (issue 15): whatever started this run (the API, a retry, a
 * board button, BullMQ's own retry, a stalled job, a replay), a job that may already have charged (a `sending` mark
 * from an earlier call, or an ambiguous call in its history) sends nothing unless an operator forced this very run
 * (domain/forced-replay.ts, written by `dead replay --force`). Otherwise it ends dead again, ambiguous, saying so.
 */
export const paymeGoProcessorFactory: ProcessorFactory<PaymentSpec> = ({ spec, ctx, transports, deps }) => {
  const transport = transports.for(spec.base);
  return async (job: Job<PaymentJobData>): Promise<JobResult> => {
    const log = ctx.logger.child({ job_id: job.id, provider: spec.name });
    const charge = readProgress(job).charge as ChargeState | undefined;
    const result = charge?.state === 'charged' ? charge.result : await chargeOnce(job, charge, log);
    if (!job.data.fiscal_qr_code) return result;
    const links = await enqueueConfirmation(deps.confirmations, spec, job, result, log);
    return { ...result, links };
  };

  async function chargeOnce(job: Job<PaymentJobData>, charge: ChargeState | undefined, log: Logger): Promise<JobResult> {
    const run = currentRun(job);
    refuseUnlessSafe(ctx, job, charge, run);
    const result = await runAttempt(ctx, job, async () => {
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

/** Throws the dead letter when this run must not send; returns when it may. */
function refuseUnlessSafe(ctx: AttemptContext, job: Job<PaymentJobData>, charge: ChargeState | undefined, run: number): void {
  if (charge?.state === 'sending' && charge.run === run) {
    // This very run sent (or was about to send) and stopped: even a forced run gets one send only.
    refuseWithoutCall(ctx, job, ambiguous('interrupted', `an earlier attempt (started ${charge.at}) stopped after the charge may have been sent; check it with Payme, then replay with force`));
  }
  const mayHaveCharged = charge?.state === 'sending' || decodeAttempts(job.stacktrace).some((entry) => entry.class === 'ambiguous');
  if (mayHaveCharged && forcedRun(job.progress) !== run) {
    refuseWithoutCall(
      ctx,
      job,
      ambiguous(
        'forced_replay_needed',
        `this charge may already have been made by an earlier attempt; it is sent again only by a replay with force, after checking with Payme (fiscal-worker dead replay --force ${job.id})`,
      ),
    );
  }
}

/**
 * The charge → confirm chain (CONTRACT §3): the confirmation's id is `<confirmWith>.<payment_id>`, so a re-run of this
 * job finds the one it enqueued before (duplicate) instead of making a second. Both records link to each other. Redis
 * trouble throws: the job is retried, and the re-run skips the charge (`charged` above).
 *
 * A confirmation the intake refuses (the provider's payment_id missing or malformed, the receipt's host no longer on
 * QR_ALLOWED_HOSTS) is never dropped (issue 15): it is held as a dead letter of the confirmation queue carrying the
 * reason, which an operator replays once the cause is fixed, and the charge links to it.
 */
async function enqueueConfirmation(confirmations: ConfirmationIntake, spec: PaymentSpec, job: Job<PaymentJobData>, result: JobResult, log: Logger): Promise<Record<string, string>> {
  const paymentId = (result.data as { payment_id?: unknown } | null)?.payment_id;
  const body = { provider: spec.confirmWith, payment_id: typeof paymentId === 'number' ? String(paymentId) : paymentId, qr_code: job.data.fiscal_qr_code };
  const links = { [spec.name]: job.id! };
  const linkName = `${spec.confirmWith}_confirm`;
  const outcome = await confirmations.enqueue(body, { links });
  if (outcome.result !== 'invalid') {
    if (outcome.result === 'conflict') log.warn({ record_id: outcome.id }, 'charged; a confirmation with another receipt already exists for this payment');
    else log.info({ record_id: outcome.id, result: outcome.result }, 'charged; confirmation enqueued');
    return { ...result.links, [linkName]: outcome.id };
  }
  const held = await confirmations.hold(body, { links, problems: outcome.problems, heldFor: job.id! });
  log.error({ record_id: held.id, problems: outcome.problems }, 'charged, but the confirmation is invalid: held as a dead letter for an operator');
  return { ...result.links, [linkName]: held.id };
}
