import { createHash } from 'node:crypto';
import type { Config } from '../config/env.js';
import type { EnqueueOptions, EnqueueOutcome, ReceiptIntake } from '../domain/enqueue.js';
import { recordId, saleKey } from '../domain/ids.js';
import type { ReceiptJobData, ReceiptRequest } from '../domain/jobs.js';
import { fieldProblems } from '../domain/problems.js';
import type { ProviderQueues } from '../infra/queues.js';
import { countEnqueued, type Metrics } from '../observability/metrics.js';
import { onlySpecOfKind } from '../providers/index.js';
import { enqueueAtMostOnce } from './money-intake.js';

/** The registry's receipt provider (seed 004, Freedom Pay). */
const RECEIPT = onlySpecOfKind('receipt');

/** One record per sale (CONTRACT §3: never a second receipt for the same payment_id + operation_type). */
export function receiptRecordId(input: Pick<ReceiptRequest, 'payment_id' | 'operation_type'>): string {
  return recordId(RECEIPT.name, saleKey(input));
}

/** sha256 of the body with sorted keys; payment_id compared as a string (764239789 and "764239789" are one sale). */
export function receiptFingerprint(input: ReceiptRequest): string {
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
  queues: ProviderQueues;
  metrics: Metrics;
}

/** Freedom Pay receipts enter here; the same sale again is a duplicate (same body) or a conflict (another one). */
export class ReceiptProducer implements ReceiptIntake {
  constructor(private readonly deps: ReceiptProducerDeps) {}

  /** Both FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY are needed to sign requests (seed 004). */
  get configured(): boolean {
    const { merchantId, secretKey } = this.deps.config.freedompay;
    return Boolean(merchantId && secretKey);
  }

  async enqueue(body: unknown, options: Pick<EnqueueOptions, 'within'> = {}): Promise<EnqueueOutcome> {
    const outcome = await this.claimAndAdd(body, options);
    countEnqueued(this.deps.metrics, RECEIPT.name, outcome.result);
    return outcome;
  }

  private async claimAndAdd(body: unknown, options: Pick<EnqueueOptions, 'within'>): Promise<EnqueueOutcome> {
    const parsed = RECEIPT.request(this.deps.config).safeParse(body);
    if (!parsed.success) return { result: 'invalid', provider: RECEIPT.name, problems: fieldProblems(parsed.error) };
    const input = parsed.data;
    const id = receiptRecordId(input);
    const fingerprint = receiptFingerprint(input);
    return enqueueAtMostOnce(
      this.deps,
      {
        provider: RECEIPT.name,
        id,
        name: 'receipt',
        data: { ...input, fingerprint } satisfies ReceiptJobData,
        conflictMessage: `a ${input.operation_type} receipt for payment_id ${String(input.payment_id)} was already accepted with another body; a sale has one receipt`,
      },
      options.within,
    );
  }
}
