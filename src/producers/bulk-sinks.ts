import { Pool } from 'undici';
import { z } from 'zod';
import type { Config } from '../config/env.js';
import type { EnqueueOutcome } from '../domain/enqueue.js';
import type { FieldProblem } from '../domain/problems.js';
import { storeDeadline } from '../infra/deadline.js';
import { UnavailableError } from '../infra/redis.js';
import { createMetrics } from '../observability/metrics.js';
import { openStore, StoreUnavailableError, type Store } from '../operations/store.js';
import { ConfirmationProducer } from './enqueue.js';

/**
 * Where `fiscal-worker enqueue` sends its batches: straight into Redis through the producer the API uses, or to a
 * remote `api` over HTTP (`--url`), so the sales side needs no Redis access (CONTRACT §1). Both answer one outcome
 * per item, in order, or throw a SinkError: retryable (the same batch goes again; enqueue is idempotent) or not.
 */

export type LineResult = 'created' | 'duplicate' | 'conflict' | 'invalid';

export interface LineOutcome {
  result: LineResult;
  /** Why a line was not accepted (invalid, conflict): which field, what was wrong. */
  errors?: FieldProblem[];
}

export interface BulkItem {
  /** The line as read: valid JSON (checked), sent as is to the API. */
  text: string;
  value: unknown;
}

export interface BulkSink {
  send(items: readonly BulkItem[], signal: AbortSignal): Promise<LineOutcome[]>;
  close(): Promise<void>;
}

export class SinkError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SinkError';
  }
}

function fromEnqueueOutcome(outcome: EnqueueOutcome): LineOutcome {
  if (outcome.result === 'invalid') return { result: 'invalid', errors: outcome.problems };
  if (outcome.result === 'conflict') return { result: 'conflict', errors: [{ field: 'qr_code', message: outcome.message }] };
  return { result: outcome.result };
}

/**
 * A whole batch's Redis work, and one command of it. The API's 4.5 s (CONTRACT §3: 503 within 5 s) is for one
 * request; a 1000-line batch on a busy machine can take longer, and a batch cut off is sent again and reports the
 * lines its first attempt stored as `duplicate`. A Redis that is away still fails at once (maxRetriesPerRequest 0).
 */
const LOCAL_BATCH_DEADLINE_MS = 30_000;

/** Local mode: the producer the API uses (validation, idempotency, one job per confirmation). */
export async function openLocalSink(config: Readonly<Config>): Promise<BulkSink> {
  let store: Store;
  try {
    store = await openStore(config, { commandTimeoutMs: LOCAL_BATCH_DEADLINE_MS });
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw new SinkError(err.message, false);
    throw err;
  }
  const { queues, close } = store;
  const producer = new ConfirmationProducer({ config, queues, metrics: createMetrics() });
  return {
    async send(items) {
      try {
        const outcomes = await producer.enqueueMany(
          items.map((item) => item.value),
          { within: storeDeadline(LOCAL_BATCH_DEADLINE_MS) },
        );
        return outcomes.map(fromEnqueueOutcome);
      } catch (err) {
        if (err instanceof UnavailableError) throw new SinkError(`Redis is not answering: ${(err.cause as Error)?.message ?? err.message}`, true, undefined, { cause: err });
        throw err;
      }
    },
    close,
  };
}

/** CONTRACT §3 batch answer: one result per item, an `error` for the items not accepted. */
const BatchAnswer = z.object({
  results: z.array(
    z.object({
      index: z.number().int(),
      duplicate: z.boolean().optional(),
      error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }).optional(),
    }),
  ),
});
const Problems = z.array(z.object({ field: z.string(), message: z.string() }));
const ErrorAnswer = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

type BatchResult = z.infer<typeof BatchAnswer>['results'][number];

function fromBatchResult(r: BatchResult): LineOutcome {
  if (!r.error) return { result: r.duplicate === true ? 'duplicate' : 'created' };
  if (r.error.code === 'conflict') return { result: 'conflict', errors: [{ field: 'qr_code', message: r.error.message }] };
  const problems = Problems.safeParse(r.error.details);
  return { result: 'invalid', errors: problems.success && problems.data.length > 0 ? problems.data : [{ field: '(item)', message: `${r.error.code}: ${r.error.message}` }] };
}

/** HTTP statuses after which the same batch may go again: the API stored nothing, or cannot say (CONTRACT §3). */
const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const REQUEST_TIMEOUT_MS = 60_000;

function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function apiMessage(status: number, text: string): string {
  let answer: z.infer<typeof ErrorAnswer> | undefined;
  try {
    const parsed = ErrorAnswer.safeParse(JSON.parse(text));
    if (parsed.success) answer = parsed.data;
  } catch {
    // not JSON: a proxy's page, say
  }
  return answer ? `HTTP ${status} ${answer.error.code}: ${answer.error.message}` : `HTTP ${status}`;
}

/**
 * `--url` mode: POST /v1/confirmations/batch on a remote `api`. The lines go as they were read (checked to be JSON),
 * so nothing is re-serialised. The token is only ever put in the Authorization header, never in a message.
 */
export class RemoteSink implements BulkSink {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly headers: Record<string, string>;

  constructor(base: URL, token: string | undefined, connections: number) {
    this.pool = new Pool(base.origin, { connections });
    this.path = `${base.pathname.replace(/\/+$/, '')}/v1/confirmations/batch`;
    this.headers = { 'content-type': 'application/json', 'user-agent': 'fiscal-worker-enqueue', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  }

  async send(items: readonly BulkItem[], signal: AbortSignal): Promise<LineOutcome[]> {
    const body = `{"items":[${items.map((item) => item.text).join(',')}]}`;
    let status: number;
    let text: string;
    let retryAfter: string | string[] | undefined;
    try {
      const res = await this.pool.request({ path: this.path, method: 'POST', headers: this.headers, body, signal, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
      status = res.statusCode;
      retryAfter = res.headers['retry-after'];
      text = await res.body.text();
    } catch (err) {
      const e = err as Error & { code?: string };
      // No answer: the API may or may not have stored the batch; sending it again is safe (idempotent enqueue).
      throw new SinkError(`no answer from the API (${e.code ?? e.name}: ${e.message})`, true, undefined, { cause: err });
    }
    if (status === 401) throw new SinkError(`the API refused the token (${apiMessage(status, text)}); check --token`, false);
    if (RETRYABLE_STATUS.has(status)) throw new SinkError(`the API did not take the batch (${apiMessage(status, text)})`, true, retryAfterMs(retryAfter));
    if (status !== 200) throw new SinkError(`the API refused the batch (${apiMessage(status, text)})`, false);
    let answer: z.infer<typeof BatchAnswer> | undefined;
    try {
      const parsed = BatchAnswer.safeParse(JSON.parse(text));
      if (parsed.success) answer = parsed.data;
    } catch {
      // handled below
    }
    const outcomes: (LineOutcome | undefined)[] = new Array(items.length).fill(undefined);
    for (const r of answer?.results ?? []) if (r.index >= 0 && r.index < items.length) outcomes[r.index] = fromBatchResult(r);
    if (!answer || answer.results.length !== items.length || outcomes.includes(undefined)) {
      throw new SinkError(`the API answered HTTP 200 without one result per item (${items.length} sent); is --url a fiscal-worker api?`, false);
    }
    return outcomes as LineOutcome[];
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
