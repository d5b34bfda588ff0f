import type { Config } from '../config/env.js';
import { RetryableFailure } from './failures.js';

/** Retry-After beyond this is treated as a provider bug, not an instruction. */
const RETRY_AFTER_CEILING_MS = 24 * 3_600_000;

/**
 * Delay before the next attempt of a run: exponential from RETRY_BASE_MS, capped at RETRY_MAX_MS, with "equal
 * jitter" (half fixed, half random) so a burst of jobs failing together does not come back together, yet never
 * retries sooner than half the step. A provider's Retry-After wins over the schedule (CONTRACT §2).
 */
export function backoffDelay(retry: Readonly<Config['retry']>, attemptInRun: number, retryAfterMs: number | undefined, random = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(Math.max(retryAfterMs, 0), RETRY_AFTER_CEILING_MS);
  const step = Math.min(retry.maxMs, retry.baseMs * 2 ** Math.max(0, attemptInRun - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

/** BullMQ `settings.backoffStrategy` for jobs added with `backoff: { type: 'fiscal' }`. */
export function fiscalBackoffStrategy(retry: Readonly<Config['retry']>) {
  return (attemptsMade: number, _type?: string, err?: Error): number => {
    if (err instanceof RetryableFailure) return backoffDelay(retry, err.attemptInRun, err.retryAfterMs);
    // Not ours (a bug or an infrastructure error thrown mid-job): retry on BullMQ's count.
    return backoffDelay(retry, attemptsMade, undefined);
  };
}
