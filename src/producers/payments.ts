import { createHash } from 'node:crypto';
import type { Config } from '../config/env.js';
import type { EnqueueOptions, EnqueueOutcome, PaymentIntake } from '../domain/enqueue.js';
import { recordId } from '../domain/ids.js';
import type { PaymentJobData, PaymentRequest } from '../domain/jobs.js';
import { fieldProblems } from '../domain/problems.js';
import type { ProviderQueues } from '../infra/queues.js';
import { countEnqueued, type Metrics } from '../observability/metrics.js';
import { onlySpecOfKind } from '../providers/index.js';
import { enqueueAtMostOnce } from './money-intake.js';

/** The registry's payment provider (seed 003, Payme Go). */
const PAYMENT = onlySpecOfKind('payment');

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/** Keys are arbitrary strings; hashed, they make a plain, fixed-length record id. */
export function paymentRecordId(idempotencyKey: string): string {
  return recordId(PAYMENT.name, sha256(idempotencyKey));
}

export function paymentFingerprint(input: PaymentRequest): string {
  return sha256(JSON.stringify([input.amount, input.qr_code, input.fiscal_qr_code ?? null]));
}

export interface PaymentProducerDeps {
  config: Readonly<Config>;
  queues: ProviderQueues;
  metrics: Metrics;
}

/** Payme Go charges enter here: one record per Idempotency-Key (same body → duplicate, other → conflict). */
export class PaymentProducer implements PaymentIntake {
  private readonly schema;

  constructor(private readonly deps: PaymentProducerDeps) {
    this.schema = PAYMENT.request(deps.config);
  }

  async enqueue(idempotencyKey: string, body: unknown, options: Pick<EnqueueOptions, 'within'> = {}): Promise<EnqueueOutcome> {
    const outcome = await this.claimAndAdd(idempotencyKey, body, options);
    countEnqueued(this.deps.metrics, PAYMENT.name, outcome.result);
    return outcome;
  }

  private async claimAndAdd(idempotencyKey: string, body: unknown, options: Pick<EnqueueOptions, 'within'>): Promise<EnqueueOutcome> {
    const parsed = this.schema.safeParse(body);
    if (!parsed.success) return { result: 'invalid', provider: PAYMENT.name, problems: fieldProblems(parsed.error) };
    const input = parsed.data;
    const id = paymentRecordId(idempotencyKey);
    const fingerprint = paymentFingerprint(input);
    return enqueueAtMostOnce(
      this.deps,
      {
        provider: PAYMENT.name,
        id,
        name: 'charge',
        data: { ...input, fingerprint } satisfies PaymentJobData,
        conflictMessage: 'this Idempotency-Key was already used for a charge with another body; use a new key for a new charge',
      },
      options.within,
    );
  }
}
