import { UnrecoverableError } from 'bullmq';
import type { Config } from '../config/env.js';
import { backoffDelay } from '../workers/backoff.js';

/**
 * One delivery attempt of a callback, as the board shows it. Like a record's history (domain/attempt.ts) it rides on
 * BullMQ's per-job stacktrace: the processor throws an error whose `stack` is the entry, stored in the same Redis call
 * that delays or fails the job. The last entry also carries where the retry window of its run started and its attempt
 * number, so a replay (after a terminal entry) starts afresh, whatever BullMQ's own attemptsMade says.
 */
export interface CallbackAttempt {
  at: string;
  http_status: number | 'timeout' | 'network' | 'refused';
  code: string;
  message: string;
  latency_ms: number;
  attempt: number;
  /** Unix ms the retry window of this run started: the event for the first run, the first attempt after a replay. */
  window_from: number;
  /** The attempt that ended the run (dead letter). */
  terminal?: boolean;
}

export function decodeCallbackAttempts(stacktrace: readonly string[] | null | undefined): CallbackAttempt[] {
  const entries: CallbackAttempt[] = [];
  for (const raw of stacktrace ?? []) {
    try {
      const parsed = JSON.parse(raw) as CallbackAttempt;
      if (parsed && typeof parsed === 'object' && typeof parsed.attempt === 'number') entries.push(parsed);
    } catch {
      // BullMQ's own failures (a stalled job, a crashed processor) are not attempts.
    }
  }
  return entries;
}

/** Where this attempt stands in its run: its number and when the run's window opened. */
export function attemptPosition(history: readonly CallbackAttempt[], eventAt: number, now: number): { attempt: number; windowFrom: number } {
  const last = history[history.length - 1];
  if (!last) return { attempt: 1, windowFrom: eventAt };
  if (last.terminal) return { attempt: 1, windowFrom: now };
  return { attempt: last.attempt + 1, windowFrom: last.window_from };
}

/** A failed attempt to retry; `delayMs` feeds the queue's backoff strategy. */
export class CallbackRetry extends Error {
  constructor(
    readonly entry: CallbackAttempt,
    readonly delayMs: number,
  ) {
    super(`${entry.code}: ${entry.message}`);
    this.name = 'CallbackRetry';
    this.stack = JSON.stringify(entry);
  }
}

/** Ends the callback as a dead letter now; `reason` is the failed reason the board and `dead list` show. */
export class CallbackDead extends UnrecoverableError {
  constructor(
    readonly entry: CallbackAttempt,
    reason: string,
  ) {
    super(reason);
    this.stack = JSON.stringify({ ...entry, terminal: true });
  }
}

/**
 * Delay before the next attempt: the provider schedule (exponential from RETRY_BASE_MS, capped at RETRY_MAX_MS, equal
 * jitter, workers/backoff.ts), or the receiver's Retry-After, never beyond RETRY_MAX_MS.
 */
export function callbackDelay(retry: Readonly<Config['retry']>, attempt: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs !== undefined) return Math.min(Math.max(retryAfterMs, 0), retry.maxMs);
  return backoffDelay(retry, attempt, undefined);
}

/** BullMQ `settings.backoffStrategy` of the callback worker (jobs added with `backoff: { type: 'callback' }`). */
export function callbackBackoffStrategy(retry: Readonly<Config['retry']>) {
  return (attemptsMade: number, _type?: string, err?: Error): number =>
    err instanceof CallbackRetry ? err.delayMs : backoffDelay(retry, attemptsMade, undefined);
}
