import { Queue, type JobsOptions } from 'bullmq';
import { decodeAttempts, HISTORY_LIMIT } from '../domain/attempt.js';
import { CALLBACK_QUEUE } from '../domain/auxiliary-queues.js';
import type { JobSnapshot } from '../domain/record.js';
import { BULLMQ_ATTEMPTS_CEILING } from '../workers/run-policy.js';
import type { RedisClient } from '../infra/redis.js';
import { EVENTS_KEPT } from '../infra/queues.js';

/** The BullMQ queue callbacks wait in, under QUEUE_PREFIX like every provider queue; its failed set is its dead letters. */
export { CALLBACK_QUEUE };

export type TerminalState = 'succeeded' | 'dead';

/** What a callback job carries. Never a secret: the signature is made at send time from CALLBACK_SECRET. */
export interface CallbackJobData {
  record_id: string;
  /** The record's queue (its provider). */
  queue: string;
  state: TerminalState;
  /** Which run of the record ended (0, then +1 per replay of a dead letter): a replayed record that ends again is a new event. */
  run: number;
  /** Unix ms of the event; the retry window (CALLBACK_RETRY_HOURS) runs from here. */
  event_at: number;
  /** The request's own `callback_url`; absent: CALLBACK_URL, read when sending. */
  callback_url?: string;
  /** The record as sent (the `GET /v1/…/{id}` JSON), captured once, so every retry sends the same bytes. */
  body?: string;
}

/**
 * The event id, sent as `X-Fiscal-Event-Id`, is the callback's job id: record id + terminal state + run. BullMQ adds a
 * job id only once, so the same event scheduled twice (before and after the state was stored, or by a retried
 * scheduling) stays one callback, while a replayed record that ends again gets a new one. Record ids contain one dot
 * and no other (domain/ids.ts), so the parts stay readable; the queue name comes first, like a record id's provider.
 */
export function callbackEventId(recordId: string, state: TerminalState, run: number): string {
  return `${CALLBACK_QUEUE}.${recordId}.${state}.${run}`;
}

/**
 * The run a stored terminal state belongs to. A dead job's last history entry is the call that ended it (or the last
 * retryable one, if BullMQ's attempts ceiling ended it): it does not count. A success's call is in its returnvalue.
 */
export function runOfFinished(job: Pick<JobSnapshot, 'stacktrace'>, state: TerminalState): number {
  const entries = decodeAttempts(job.stacktrace);
  return (state === 'dead' ? entries.slice(0, -1) : entries).filter((entry) => entry.terminal).length;
}

/** Delivered callbacks are kept an hour (to watch on the board, and so a late second scheduling finds them). */
export const DELIVERED_KEPT_SECONDS = 3600;

export function callbackJobOptions(): JobsOptions {
  return {
    // The retry window (CALLBACK_RETRY_HOURS), not a count, ends a callback; the ceiling only guards against a loop.
    attempts: BULLMQ_ATTEMPTS_CEILING,
    backoff: { type: 'callback' },
    removeOnComplete: { age: DELIVERED_KEPT_SECONDS },
    removeOnFail: false,
    stackTraceLimit: HISTORY_LIMIT,
  };
}

/** The callbacks queue for reading and operating it (board, gauges, dead letters); `prefix` from Layout.auxiliaryPrefix. */
export function openCallbackQueue(connection: RedisClient, prefix: string): Queue<CallbackJobData> {
  const queue = new Queue<CallbackJobData>(CALLBACK_QUEUE, { connection, prefix, defaultJobOptions: callbackJobOptions(), streams: { events: { maxLen: EVENTS_KEPT } } });
  queue.on('error', () => undefined); // errors surface on the calls that failed
  return queue;
}
