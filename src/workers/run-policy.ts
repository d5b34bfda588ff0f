import type { Job, WorkerOptions } from 'bullmq';
import type { Config } from '../config/env.js';
import { HISTORY_LIMIT } from '../domain/attempt.js';

/**
 * BullMQ never decides on its own that a job is dead: the processor counts the attempts of the current run from the
 * job's history (so a replay from Bull Board, which keeps `attemptsMade`, still gets fresh attempts) and fails the
 * job itself when the run is used up. This ceiling only guards against a processor bug retrying forever.
 */
export const BULLMQ_ATTEMPTS_CEILING = 10_000;

/**
 * The retry policy lives with the worker, not on every job (issue 18). BullMQ stores a job's options in its hash
 * (`attempts`, `backoff`, `stackTraceLimit`, `removeOn*`: 164 bytes a job), yet reads them only in the worker that
 * holds the job, when a run fails. So jobs are added without options and the worker sets them on the job it is
 * processing, before BullMQ reads them: a thrown RetryableFailure is retried with our backoff strategy, and the
 * history (the job's stacktrace) keeps HISTORY_LIMIT entries. Jobs added with these options stored behave the same.
 */
export function applyRunPolicy(job: Job): void {
  job.opts.attempts = BULLMQ_ATTEMPTS_CEILING;
  job.opts.backoff ??= { type: 'fiscal' };
  job.opts.stackTraceLimit ??= HISTORY_LIMIT;
}

/**
 * Retention as worker options, which BullMQ applies to every job without its own: finished confirmations answer
 * duplicates and look-ups for RETENTION_DAYS; dead letters stay until an operator removes them (CONTRACT §5; BullMQ
 * keeps every failed job when neither the job nor the worker says otherwise, so `removeOnFail` stays unset).
 */
export function retentionOptions(config: Pick<Config, 'retentionSeconds'>): Pick<WorkerOptions, 'removeOnComplete'> {
  return { removeOnComplete: { age: config.retentionSeconds } };
}
