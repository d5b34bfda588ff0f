import { DelayedError, type Job } from 'bullmq';
import { decodeAttempts, type AttemptEntry } from '../domain/attempt.js';
import { forcedRun } from '../domain/forced-replay.js';
import type { ReceiptJobData } from '../domain/jobs.js';
import { receiptDifference } from '../domain/receipt-totals.js';
import { ambiguous, clientError } from '../domain/outcome.js';
import type { JobResult } from '../domain/record.js';
import {
  FreedomPayClient,
  classifyReceiptList,
  classifyReceiptRead,
  receiptIdOf,
  receiptSale,
  receiptStatus,
  type ReceiptObject,
} from '../providers/freedompay.js';
import type { ReceiptSpec } from '../providers/spec.js';
import { refuseWithoutCall, runAttempt, type AttemptContext } from './attempt-runner.js';
import { backoffDelay } from './backoff.js';
import { DeadLetter } from './failures.js';
import { currentRun, readProgress, recordStep } from './job-progress.js';
import type { ProcessorFactory } from './processor.js';

/** Between two reads of a pending receipt: the retry schedule, but never more than a minute apart. */
const POLL_MAX_MS = 60_000;
/** Reads of one pending receipt before giving up (about a day at one a minute); a replay polls it again. */
export const PENDING_POLLS_LIMIT = 1500;

/** The request fields that go to Freedom Pay: everything the client sent (merchant_id is added by the client). */
function requestBody(data: ReceiptJobData): Record<string, unknown> {
  const { fingerprint: _f, receipt_id: _r, receipt_run: _run, ...body } = data;
  return body;
}

/**
 * Seed 004: create the receipt, then read it until it is `registered` (the record's result is that receipt object) or
 * `failed` (dead, with the provider's error). Waiting between reads is the job's own delay (moveToDelayed +
 * DelayedError), never a sleep inside the job; reads that find it pending are kept in the history as uncounted steps,
 * so they never spend RETRY_ATTEMPTS. Never two receipts for one sale: once a create may have reached the provider
 * without a clear answer, the next attempt looks the receipt up by payment_id first and adopts it.
 */
export const freedomPayProcessorFactory: ProcessorFactory<ReceiptSpec> = ({ spec, ctx, transports }) => {
  const { baseUrl, merchantId, secretKey } = ctx.config.freedompay;
  const client = merchantId && secretKey ? new FreedomPayClient(transports.for(spec.base), baseUrl, { merchantId, secretKey }) : undefined;

  return async (job: Job<ReceiptJobData>, token?: string): Promise<JobResult> => {
    if (!client) {
      // The API refuses receipts without these; a job here was accepted by a configured process. Replay it there.
      return runAttempt(ctx, job, async () => ({
        answer: undefined,
        outcome: clientError('not_configured', 'FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY are not set in the worker that took this receipt'),
      }));
    }
    const run = currentRun(job);
    const { receipt_id: known, receipt_run: knownRun } = job.data;
    if (known && knownRun === run) {
      const read = await runAttempt(ctx, job, async () => {
        const answer = await client.get(known);
        return { answer, outcome: classifyReceiptRead(answer) };
      });
      return settle(ctx, job, token, read, false);
    }
    const found = mayAlreadyExist(job) ? await lookUp(ctx, client, job) : undefined;
    if (!found) refuseUnforcedCreate(ctx, job, run);
    const created =
      found ??
      (await runAttempt(
        ctx,
        job,
        async () => {
          const answer = await client.create(requestBody(job.data));
          return { answer, outcome: spec.classify(answer) };
        },
        { retryAmbiguous: true },
      ));
    const receipt = created.data as ReceiptObject;
    const receiptId = receiptIdOf(receipt);
    if (receiptStatus(receipt) !== 'registered' && receiptId) await job.updateData({ ...job.data, receipt_id: receiptId, receipt_run: run });
    return settle(ctx, job, token, created, true);
  };
};

/** A create may have reached the provider before: an earlier attempt of this job failed, stalled or was replayed. */
function mayAlreadyExist(job: Job): boolean {
  return decodeAttempts(job.stacktrace).length > 0 || (job.attemptsStarted ?? 0) > 1 || (job.stalledCounter ?? 0) > 0;
}

/**
 * A new run after one that ended `ambiguous` (its last create may have reached Freedom Pay, and no look-up found the
 * receipt: the provider's list may not show it yet) creates only when an operator forced this very run (issue 15,
 * CONTRACT §4), whatever started it: the board and the API skip such a dead letter without `force`, and this holds the
 * same line for BullMQ's own retry or any other tool. The look-up before it still adopts a receipt that shows up.
 * Within a run, an ambiguous create is retried, always after a look-up (CONTRACT §4: receipts are looked up first).
 */
function refuseUnforcedCreate(ctx: AttemptContext, job: Job<ReceiptJobData>, run: number): void {
  if (run === 0 || forcedRun(job.progress) === run) return;
  const lastEnd = decodeAttempts(job.stacktrace).findLast((entry) => entry.terminal);
  if (lastEnd?.class !== 'ambiguous') return;
  refuseWithoutCall(
    ctx,
    job,
    ambiguous(
      'forced_replay_needed',
      `an earlier create of this receipt may have reached Freedom Pay and the look-up found none; it is created again only by a replay with force, after checking with Freedom Pay (fiscal-worker dead replay --force ${job.id})`,
    ),
  );
}

/** GET /v5/receipts?payment_id=…: the sale's receipt, if one was made (a failed one does not count). */
async function lookUp(ctx: AttemptContext, client: FreedomPayClient, job: Job<ReceiptJobData>): Promise<JobResult | undefined> {
  const paymentId = String(job.data.payment_id);
  const listed = await runAttempt(ctx, job, async () => {
    const answer = await client.list({ paymentId });
    return { answer, outcome: classifyReceiptList(answer) };
  });
  const receipt = (listed.data as ReceiptObject[]).find((r) => {
    const sale = receiptSale(r);
    return sale?.payment_id === paymentId && sale.operation_type === job.data.operation_type && receiptStatus(r) !== 'failed' && receiptIdOf(r) !== undefined;
  });
  ctx.logger.info({ job_id: job.id, provider: ctx.provider, found: receipt ? receiptIdOf(receipt) : null }, 'looked up the receipt before creating it');
  if (!receipt) {
    await recordStep(job, listed.attempt);
    return undefined;
  }
  // Adopted only when it is this sale's receipt: same total, same positions (issue 15). Otherwise a person looks.
  const difference = receiptDifference(job.data, receipt);
  if (difference) {
    const what = difference.provider.total === difference.request.total ? `its positions (${difference.provider.positions.join('; ')})` : `its total ${difference.provider.total} (this request: ${difference.request.total})`;
    const message = `freedompay already has receipt ${receiptIdOf(receipt)} for payment_id ${paymentId} (${job.data.operation_type}), but ${what} differ from this request; it was not adopted`;
    const entry: AttemptEntry = { ...listed.attempt, class: 'rejected', code: 'receipt_mismatch', message, provider_response: difference, terminal: true };
    throw new DeadLetter(entry, `rejected: receipt_mismatch: ${message}`);
  }
  return { data: receipt, attempt: listed.attempt };
}

/** Registered: done. Pending: remember the step and come back later, as the job's own delay. */
async function settle(ctx: AttemptContext, job: Job<ReceiptJobData>, token: string | undefined, result: JobResult, fresh: boolean): Promise<JobResult> {
  const receipt = result.data as ReceiptObject;
  if (receiptStatus(receipt) === 'registered') return result;
  const polls = fresh ? 0 : Number(readProgress(job).polls ?? 0) + 1;
  if (polls >= PENDING_POLLS_LIMIT) {
    const id = receiptIdOf(receipt);
    const entry: AttemptEntry = { ...result.attempt, class: 'retryable', code: 'still_pending', message: `receipt ${id} is still pending after ${polls} reads` };
    throw new DeadLetter(entry, `gave up: receipt ${id} still pending after ${polls} reads; a replay reads it again`);
  }
  await recordStep(job, result.attempt, { polls });
  const delay = Math.min(backoffDelay(ctx.config.retry, polls + 1, undefined), POLL_MAX_MS);
  await job.moveToDelayed(Date.now() + delay, token);
  throw new DelayedError();
}
