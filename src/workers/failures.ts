import { UnrecoverableError } from 'bullmq';
import { encodeAttempt, type AttemptEntry } from '../domain/attempt.js';

/**
 * Thrown for a retryable outcome. Its `stack` is the attempt entry, which BullMQ stores in the job's `stacktrace`
 * in the same call that delays the job (see domain/attempt.ts); `retryAfterMs` and `attemptInRun` feed backoff.ts.
 */
export class RetryableFailure extends Error {
  constructor(
    readonly entry: AttemptEntry,
    readonly attemptInRun: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`${entry.code ?? 'retryable'}: ${entry.message ?? ''}`.trim());
    this.name = 'RetryableFailure';
    this.stack = encodeAttempt(entry);
  }
}

/** Ends the job as a dead letter now; BullMQ keeps `message` as the failed reason shown on the board. */
export class DeadLetter extends UnrecoverableError {
  constructor(
    readonly entry: AttemptEntry,
    reason: string,
  ) {
    super(reason);
    this.stack = encodeAttempt(entry);
  }
}
