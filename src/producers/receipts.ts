import { createHash } from 'node:crypto';
import type { Config } from '../config/env.js';
import { recordId } from '../domain/ids.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { RedisClient } from '../infra/redis.js';
import type { Metrics } from '../observability/metrics.js';
import { defineClaimScript } from './claim-script.js';
import { enqueueFingerprinted } from './fingerprinted.js';
import type { EnqueueOutcome } from './enqueue.js';
import { receiptSchema, type ReceiptInput } from './receipt-schema.js';
import { fieldProblems } from './schemas.js';

/** What a Freedom Pay job carries: the request as accepted, its fingerprint, and (once created) the receipt id. */
export interface ReceiptJobData extends ReceiptInput {
  fingerprint: string;
  /** Set by the worker with job.updateData right after the create answered (seed 004 `receipt_id`). */
  receipt_id?: string;
  /** The run (see workers/job-progress.ts) that created `receipt_id`; a replay starts over with a look-up. */
  receipt_run?: number;
}

/**
 * One record per sale: payment_id + operation_type (CONTRACT §3: never a second receipt for the same pair). The
 * operation type is a lower_snake code, so the first `-` separates the two unambiguously.
 */
export function receiptRecordId(input: Pick<ReceiptInput, 'payment_id' | 'operation_type'>): string {
  return recordId('freedompay', `${input.operation_type}-${String(input.payment_id)}`);
}

/** sha256 of the body with sorted keys; payment_id compared as a string (764239789 and "764239789" are one sale). */
export function receiptFingerprint(input: ReceiptInput): string {
  return createHash('sha256')
    .update(canonicalJson({ ...input, payment_id: String(input.payment_id) }))
    .digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface ReceiptProducerDeps {
  config: Readonly<Config>;
  redis: RedisClient;
  queues: ProviderQueues;
  metrics: Metrics;
}

/** Freedom Pay receipts enter here; the same sale again is a duplicate (same body) or a conflict (another one). */
export class ReceiptProducer {
  constructor(private readonly deps: ReceiptProducerDeps) {
    defineClaimScript(deps.redis);
  }

  /** Both FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY are needed to sign requests (seed 004). */
  get configured(): boolean {
    const { merchantId, secretKey } = this.deps.config.freedompay;
    return Boolean(merchantId && secretKey);
  }

  async enqueue(body: unknown): Promise<EnqueueOutcome> {
    const outcome = await this.claimAndAdd(body);
    this.deps.metrics.enqueued.inc({ provider: 'freedompay', result: outcome.result });
    return outcome;
  }

  private async claimAndAdd(body: unknown): Promise<EnqueueOutcome> {
    const parsed = receiptSchema.safeParse(body);
    if (!parsed.success) return { result: 'invalid', provider: 'freedompay', problems: fieldProblems(parsed.error) };
    const input = parsed.data;
    const id = receiptRecordId(input);
    const fingerprint = receiptFingerprint(input);
    const { queues, redis, config } = this.deps;
    return enqueueFingerprinted(
      { redis, queues, retentionSeconds: config.retentionSeconds },
      {
        provider: 'freedompay',
        id,
        name: 'receipt',
        data: { ...input, fingerprint } satisfies ReceiptJobData,
        conflictMessage: `a ${input.operation_type} receipt for payment_id ${String(input.payment_id)} was already accepted with another body; a sale has one receipt`,
      },
    );
  }
}
