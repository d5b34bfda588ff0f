import { DelayedError, type Job } from 'bullmq';
import type { Dispatcher } from 'undici';
import type { Config } from '../config/env.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { attemptPosition, callbackDelay, CallbackDead, CallbackRetry, decodeCallbackAttempts, type CallbackAttempt } from './attempts.js';
import { captureRecord, type RecordReader } from './capture.js';
import type { CallbackJobData } from './events.js';
import { describeTarget, type CallbackPolicy } from './policy.js';
import { sendCallback, type SendResult } from './send.js';

export interface CallbackDeliveryDeps {
  config: Readonly<Config>;
  logger: Logger;
  metrics: Metrics;
  read: RecordReader;
  dispatcher: Dispatcher;
  policy: CallbackPolicy;
  /** How long a callback whose record has not stored its end yet waits before it looks again. */
  pendingRecheckMs: number;
}

/** What a callback job returns: delivered, or skipped with the reason (nothing was sent). */
export type CallbackResult =
  | { delivered: true; event_id: string; http_status: number; attempt: number; delivered_at: string }
  | { delivered: false; skipped: string; message: string };

/**
 * The callback worker's processor (issue 17, CONTRACT §4): capture the record once, POST it signed to its
 * `callback_url` or CALLBACK_URL, and turn the answer into BullMQ's language. A 2xx completes the job; 410 Gone, an
 * address the host may not reach, or a URL the policy no longer allows dead-letter it at once; anything else (3xx, other
 * 4xx, 5xx, timeouts, network errors) is retried with backoff until CALLBACK_RETRY_HOURS have passed since the event, as
 * Stripe retries every non-2xx (a receiver's 4xx is as often a deploy as a verdict).
 *
 * `fiscal_callbacks_total{result}` counts attempts: `delivered` once per callback, `failed` once per failed attempt.
 */
export function callbackProcessor(deps: CallbackDeliveryDeps) {
  const { config, logger, metrics } = deps;
  return async (job: Job<CallbackJobData>, token?: string): Promise<CallbackResult> => {
    const data = job.data;
    const ids = { job_id: job.id, record_id: data.record_id };
    let body = data.body;
    if (body === undefined) {
      const capture = await captureRecord(deps.read, data);
      if (capture.kind === 'skip') {
        logger.info({ ...ids, reason: capture.reason, detail: capture.message }, 'callback skipped; nothing sent');
        return { delivered: false, skipped: capture.reason, message: capture.message };
      }
      if (capture.kind === 'pending') return waitForRecord(deps, job, token, capture.state);
      body = capture.body;
      await job.updateData({ ...data, body });
    }

    const now = Date.now();
    const { attempt, windowFrom } = attemptPosition(decodeCallbackAttempts(job.stacktrace), data.event_at, now);
    const unsent: CallbackAttempt = { at: new Date(now).toISOString(), http_status: 'refused', code: '', message: '', latency_ms: 0, attempt, window_from: windowFrom };
    const target = data.callback_url ?? config.callback.url;
    if (!target) return deadLetter(logger, unsent, 'no_target', 'no callback_url on the record and CALLBACK_URL is not set in the worker that took it', ids);
    const problem = data.callback_url ? deps.policy.urlProblem(data.callback_url) : undefined;
    if (problem) return deadLetter(logger, unsent, 'refused_by_policy', `${problem} (checked again at send time)`, ids);

    const sent = await sendCallback(deps.dispatcher, { url: new URL(target), eventId: job.id!, body, secret: config.callback.secret, timeoutMs: config.providerTimeoutMs, now });
    const entry: CallbackAttempt = { ...unsent, ...describe(sent), latency_ms: Math.round(sent.latencyMs) };
    const log = { ...ids, attempt, http_status: entry.http_status, code: entry.code, target: describeTarget(target), duration_ms: entry.latency_ms };
    if (sent.kind === 'http' && sent.status >= 200 && sent.status < 300) {
      metrics.callbacks.inc({ result: 'delivered' });
      if (logger.isLevelEnabled('debug')) logger.debug(log, 'callback delivered');
      return { delivered: true, event_id: job.id!, http_status: sent.status, attempt, delivered_at: new Date().toISOString() };
    }

    metrics.callbacks.inc({ result: 'failed' });
    if (sent.kind === 'http' && sent.status === 410) return deadLetter(logger, entry, 'gone', 'the receiver answered 410 Gone: it takes no more callbacks at this URL', log);
    if (sent.kind === 'refused') return deadLetter(logger, entry, 'address_refused', sent.message, log);
    if (Date.now() - windowFrom >= config.callback.retryWindowMs) {
      const hours = +(config.callback.retryWindowMs / 3_600_000).toPrecision(6);
      return deadLetter(logger, entry, 'retries_exhausted', `no 2xx within CALLBACK_RETRY_HOURS (${hours} h) after ${attempt} attempts; last: ${entry.code}: ${entry.message}`, log);
    }
    const delayMs = callbackDelay(config.retry, attempt, sent.kind === 'http' ? sent.retryAfterMs : undefined);
    logger.info({ ...log, retry_in_ms: delayMs }, 'callback delivery failed; will retry');
    throw new CallbackRetry(entry, delayMs);
  };
}

function deadLetter(logger: Logger, entry: CallbackAttempt, code: string, reason: string, fields: object): never {
  logger.warn({ ...fields, attempt: entry.attempt, code, reason }, 'callback dead-lettered');
  throw new CallbackDead({ ...entry, code, message: reason }, `${code}: ${reason}`);
}

function describe(sent: SendResult): Pick<CallbackAttempt, 'http_status' | 'code' | 'message'> {
  if (sent.kind !== 'http') return { http_status: sent.kind, code: sent.code, message: sent.message };
  const { status } = sent;
  if (status >= 200 && status < 300) return { http_status: status, code: 'delivered', message: `HTTP ${status}` };
  if (status >= 300 && status < 400) return { http_status: status, code: `http_${status}`, message: `the receiver answered HTTP ${status}; redirects are not followed, change the callback URL` };
  return { http_status: status, code: `http_${status}`, message: `the receiver answered HTTP ${status}` };
}

/**
 * The record has not stored its terminal state: its store is in flight, or its worker died before and it runs again
 * as a stalled job. Look again later without spending an attempt; give up (dead letter) once the retry window is over.
 */
async function waitForRecord(deps: CallbackDeliveryDeps, job: Job<CallbackJobData>, token: string | undefined, state: string): Promise<never> {
  const { event_at: eventAt, record_id: recordId } = job.data;
  if (Date.now() - eventAt >= deps.config.callback.retryWindowMs) {
    const entry: CallbackAttempt = { at: new Date().toISOString(), http_status: 'refused', code: '', message: '', latency_ms: 0, attempt: 1, window_from: eventAt };
    const reason = `record ${recordId} is still ${state} after CALLBACK_RETRY_HOURS; replay the callback once it has ended`;
    return deadLetter(deps.logger, entry, 'record_not_finished', reason, { job_id: job.id, record_id: recordId });
  }
  await job.moveToDelayed(Date.now() + deps.pendingRecheckMs, token);
  throw new DelayedError();
}
