import { Worker, type Job } from 'bullmq';
import type { Config, Provider } from '../config/env.js';
import { attemptsInRun, decodeAttempts, hadLostAnswer, type AttemptEntry } from '../domain/attempt.js';
import { retryable, type Outcome } from '../domain/outcome.js';
import type { JobResult } from '../domain/record.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { answerStatus, type ProviderAnswer } from '../providers/transport.js';
import type { Circuit } from './circuit.js';
import { DeadLetter, RetryableFailure } from './failures.js';

/** Calls made while a circuit was open are kept on the job's progress (only during outages, so off the hot path). */
const UNCOUNTED_KEPT = 20;

export interface AttemptContext {
  provider: Provider;
  config: Readonly<Config>;
  metrics: Metrics;
  logger: Logger;
  circuit: Circuit;
  /** Pauses the provider's queue for every worker (BullMQ's limiter). */
  pause(ms: number): Promise<void>;
}

export type ProviderCall = () => Promise<{ answer: ProviderAnswer | undefined; outcome: Outcome }>;

/**
 * One provider call of a job, turned into BullMQ's language: a return value on success, a RetryableFailure to be
 * retried with backoff, a DeadLetter to stop now, or RateLimitError to wait out an open circuit without spending an
 * attempt. Whatever happens, exactly one entry describes the call.
 */
export async function runAttempt(ctx: AttemptContext, job: Job, call: ProviderCall): Promise<JobResult> {
  const wait = ctx.circuit.admit();
  if (wait > 0) {
    await ctx.pause(wait);
    throw Worker.RateLimitError();
  }
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
  ctx.metrics.attempts.inc({ provider: ctx.provider, class: outcome.class });
  if (answer) ctx.metrics.providerDuration.observe({ provider: ctx.provider, code: String(status) }, latencyMs / 1000);

  const entry: AttemptEntry = {
    at: new Date(startedAt).toISOString(),
    http_status: status,
    class: outcome.class,
    latency_ms: Math.round(latencyMs),
  };
  const log = ctx.logger.child({ job_id: job.id, provider: ctx.provider, attempt: attemptInRun });

  if (outcome.class === 'success') {
    ctx.circuit.recordSuccess();
    entry.terminal = true;
    log.debug({ class: outcome.class, http_status: status, duration_ms: entry.latency_ms }, 'provider call finished');
    const result: JobResult = { data: outcome.data, attempt: entry };
    if (hadLostAnswer(history)) result.after_lost_answer = true;
    return result;
  }

  entry.code = outcome.code;
  entry.message = outcome.message;
  if (outcome.providerResponse !== undefined) entry.provider_response = outcome.providerResponse;

  if (outcome.class === 'retryable') {
    if (ctx.circuit.recordFailure(job.id!)) {
      entry.uncounted = true;
      log.warn({ class: outcome.class, http_status: status, code: outcome.code, duration_ms: entry.latency_ms }, 'provider circuit open; job waits without spending an attempt');
      await keepUncounted(job, entry);
      await ctx.pause(ctx.config.circuit.probeMs);
      throw Worker.RateLimitError();
    }
    if (attemptInRun >= ctx.config.retry.attempts) {
      entry.terminal = true;
      throw new DeadLetter(entry, `gave up after ${attemptInRun} attempts; last: ${outcome.code}: ${outcome.message}`);
    }
    log.info({ class: outcome.class, http_status: status, code: outcome.code, duration_ms: entry.latency_ms }, 'provider call failed; will retry');
    throw new RetryableFailure(entry, attemptInRun, outcome.retryAfterMs);
  }

  ctx.circuit.recordAnswer();
  entry.terminal = true;
  throw new DeadLetter(entry, `${outcome.class}: ${outcome.code}: ${outcome.message}`);
}

async function keepUncounted(job: Job, entry: AttemptEntry): Promise<void> {
  const progress = (job.progress && typeof job.progress === 'object' ? job.progress : {}) as { uncounted?: AttemptEntry[] };
  const uncounted = [...(progress.uncounted ?? []), entry].slice(-UNCOUNTED_KEPT);
  await job.updateProgress({ ...progress, uncounted });
}
