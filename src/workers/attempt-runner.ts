import { DelayedError, type Job } from 'bullmq';
import type { Config } from '../config/env.js';
import type { Provider } from '../domain/provider.js';
import { attemptsInRun, decodeAttempts, hadLostAnswer, lastCallFailed, type AttemptEntry } from '../domain/attempt.js';
import { retryable, type FailureOutcome, type Outcome } from '../domain/outcome.js';
import type { JobResult } from '../domain/record.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics, ProviderMetrics } from '../observability/metrics.js';
import { answerStatus, type ProviderAnswer } from '../providers/transport.js';
import type { Circuit } from './circuit.js';
import { DeadLetter, RetryableFailure } from './failures.js';
import { readProgress, recordStep } from './job-progress.js';

export interface AttemptContext {
  provider: Provider;
  config: Readonly<Config>;
  metrics: Metrics;
  /** The provider's per-job metrics, label sets resolved once. */
  providerMetrics: ProviderMetrics;
  logger: Logger;
  circuit: Circuit;
  /** Pauses the provider's queue for every worker (BullMQ's limiter). */
  pause(ms: number): Promise<void>;
}

export type ProviderCall = () => Promise<{ answer: ProviderAnswer | undefined; outcome: Outcome }>;

export interface AttemptOptions {
  /**
   * Retry an `ambiguous` outcome like a retryable one (attempts, backoff, circuit) instead of dead-lettering it; its
   * entry keeps the class `ambiguous`. For calls whose next attempt can find out what happened first (seed 004: a
   * receipt create is looked up before it is sent again); never for a charge.
   */
  retryAmbiguous?: boolean;
}

/**
 * One provider call of a job, turned into BullMQ's language: a return value on success, a RetryableFailure to be
 * retried with backoff, a DeadLetter to stop now, or DelayedError to wait out an open circuit without spending an
 * attempt. Whatever happens, exactly one entry describes the call.
 */
export async function runAttempt(ctx: AttemptContext, job: Job, call: ProviderCall, options: AttemptOptions = {}): Promise<JobResult> {
  // The kind is asked only while the circuit is open: a job whose latest call failed probes on the backed-off schedule.
  const wait = ctx.circuit.callsFreely() ? 0 : await ctx.circuit.admit(job.id!, () => (lastCallFailed(decodeAttempts(job.stacktrace), readProgress(job).uncounted ?? []) ? 'retry' : 'fresh'));
  if (wait > 0) return waitOutCircuit(ctx, job, wait);
  const history = decodeAttempts(job.stacktrace);
  const attemptInRun = attemptsInRun(history) + 1;
  const startedAt = Date.now();
  const started = performance.now();
  let answer: ProviderAnswer | undefined;
  let outcome: Outcome;
  try {
    ({ answer, outcome } = await call());
  } catch (err) {
    // A bug or an infrastructure fault of ours: counted like a retryable failure, so it can never loop forever.
    outcome = retryable('worker_error', err instanceof Error ? err.message : String(err));
  }
  const status = answer ? answerStatus(answer) : 'network';
  const latencyMs = answer ? answer.latencyMs : performance.now() - started;
  ctx.providerMetrics.attempt(outcome.class);
  if (answer) ctx.providerMetrics.providerCall(String(status), latencyMs / 1000);

  const entry: AttemptEntry = {
    at: new Date(startedAt).toISOString(),
    http_status: status,
    class: outcome.class,
    latency_ms: Math.round(latencyMs),
  };
  // Fields rather than a child logger: a child per job costs more than the log lines most jobs never write.
  const log = ctx.logger;

  if (outcome.class === 'success') {
    await ctx.circuit.recordSuccess(job.id!);
    entry.terminal = true;
    if (log.isLevelEnabled('debug')) log.debug({ job_id: job.id, provider: ctx.provider, attempt: attemptInRun, class: outcome.class, http_status: status, duration_ms: entry.latency_ms }, 'provider call finished');
    const result: JobResult = { data: outcome.data, attempt: entry };
    if (hadLostAnswer(history)) result.after_lost_answer = true;
    return result;
  }

  const ids = { job_id: job.id, provider: ctx.provider, attempt: attemptInRun };
  entry.code = outcome.code;
  entry.message = outcome.message;
  if (outcome.providerResponse !== undefined) entry.provider_response = outcome.providerResponse;
  if ('details' in outcome && outcome.details !== undefined) entry.details = outcome.details;
  if (answerMayBeLost(answer, outcome)) entry.lost_answer = true;

  if (outcome.class === 'retryable' || (outcome.class === 'ambiguous' && options.retryAmbiguous)) {
    if (await ctx.circuit.recordFailure(job.id!)) {
      entry.uncounted = true;
      log.warn({ ...ids, class: outcome.class, http_status: status, code: outcome.code, duration_ms: entry.latency_ms }, 'provider circuit open; job waits without spending an attempt');
      // Kept on the job's progress with the other uncounted steps (only during outages, so off the hot path).
      await recordStep(job, entry);
      return waitOutCircuit(ctx, job, ctx.circuit.waitAfterFailure());
    }
    if (attemptInRun >= ctx.config.retry.attempts) {
      entry.terminal = true;
      throw new DeadLetter(entry, `gave up after ${attemptInRun} attempts; last: ${outcome.code}: ${outcome.message}`);
    }
    log.info({ ...ids, class: outcome.class, http_status: status, code: outcome.code, duration_ms: entry.latency_ms }, 'provider call failed; will retry');
    throw new RetryableFailure(entry, attemptInRun, outcome.class === 'retryable' ? outcome.retryAfterMs : undefined);
  }

  await ctx.circuit.recordAnswer(job.id!);
  entry.terminal = true;
  throw new DeadLetter(entry, `${outcome.class}: ${outcome.code}: ${outcome.message}`);
}

/**
 * Ends the job as a dead letter without calling the provider (a charge that may already have been made and was not
 * replayed with force, issue 15): one terminal entry saying why, no attempt counted, no metric of provider calls.
 */
export function refuseWithoutCall(ctx: AttemptContext, job: Job, outcome: FailureOutcome): never {
  const entry: AttemptEntry = {
    at: new Date().toISOString(),
    http_status: 'none',
    class: outcome.class,
    latency_ms: 0,
    code: outcome.code,
    message: outcome.message,
    terminal: true,
  };
  ctx.logger.warn({ job_id: job.id, provider: ctx.provider, class: outcome.class, code: outcome.code }, 'job dead-lettered without a provider call');
  throw new DeadLetter(entry, `${outcome.class}: ${outcome.code}: ${outcome.message}`);
}

/**
 * The request may have reached the provider and done its work while the answer never arrived: a timeout, a connection
 * broken after sending (ECONNRESET, UND_ERR_SOCKET: `requestSent`), or a 2xx whose body could not be read. A later
 * success is then marked `after_lost_answer` (the provider may have seen the call twice).
 */
function answerMayBeLost(answer: ProviderAnswer | undefined, outcome: Outcome): boolean {
  if (answer?.kind === 'timeout') return true;
  if (answer?.kind === 'network') return answer.requestSent;
  return outcome.class !== 'success' && outcome.code === 'undocumented_body';
}

/**
 * Waits out an open circuit without spending an attempt: the queue is paused for every worker until the next probe
 * slot (BullMQ's limiter), and the job is set aside until then (BullMQ's manual delay, which counts no attempt). Set
 * aside, it comes back behind the jobs that waited longer, not at the head of the queue where a rate-limited job
 * returns, and at a moment the circuit randomizes around each slot (circuit.ts): the probes take turns, so a job that
 * fails on its own cannot keep the circuit open for all the others.
 */
async function waitOutCircuit(ctx: AttemptContext, job: Job, ms: number): Promise<never> {
  await ctx.pause(ms);
  await job.moveToDelayed(Date.now() + ms, job.token);
  throw new DelayedError();
}
