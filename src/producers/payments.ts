import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config/env.js';
import { recordId } from '../domain/ids.js';
import { fiscalQrCode } from '../domain/qr.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { RedisClient } from '../infra/redis.js';
import type { Metrics } from '../observability/metrics.js';
import { defineClaimScript } from './claim-script.js';
import { enqueueFingerprinted } from './fingerprinted.js';
import type { EnqueueOutcome } from './enqueue.js';
import { fieldProblems } from './schemas.js';

/**
 * CONTRACT §3 `POST /v1/payments/payme` (seed 003): `amount` a positive integer in sums, `qr_code` the customer's
 * Payme code (digits in the seed: "50502044301381396427"), and optionally the fiscal receipt to attach once charged.
 */
export function paymentSchema(config: Readonly<Config>) {
  return z.strictObject({
    amount: z
      .number({ error: 'amount is required and must be a number of sums' })
      .int('amount must be a whole number of sums (seed 003: integer)')
      .positive('amount must be positive')
      .max(Number.MAX_SAFE_INTEGER, 'amount is too large'),
    qr_code: z
      .string({ error: "qr_code is required: the customer's Payme code" })
      .regex(/^\d{6,64}$/, "qr_code must be the customer's Payme code: 6 to 64 digits"),
    fiscal_qr_code: fiscalQrCode(config.qrAllowedHosts).optional(),
  });
}

export type PaymentInput = z.infer<ReturnType<typeof paymentSchema>>;

/** What a Payme Go job carries. `qr_code` is needed to charge: kept, never logged. No secret, no phone number. */
export interface PaymentJobData extends PaymentInput {
  /** sha256 of the canonical body: the same Idempotency-Key with another body is a conflict. */
  fingerprint: string;
}

export const IDEMPOTENCY_KEY_MAX = 255;

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/** Keys are arbitrary strings; hashed, they make a plain, fixed-length record id. */
export function paymentRecordId(idempotencyKey: string): string {
  return recordId('payme_go', sha256(idempotencyKey));
}

export function paymentFingerprint(input: PaymentInput): string {
  return sha256(JSON.stringify([input.amount, input.qr_code, input.fiscal_qr_code ?? null]));
}

export interface PaymentProducerDeps {
  config: Readonly<Config>;
  redis: RedisClient;
  queues: ProviderQueues;
  metrics: Metrics;
}

/** Payme Go charges enter here: one record per Idempotency-Key (same body → duplicate, other → conflict). */
export class PaymentProducer {
  private readonly schema;

  constructor(private readonly deps: PaymentProducerDeps) {
    this.schema = paymentSchema(deps.config);
    defineClaimScript(deps.redis);
  }

  async enqueue(idempotencyKey: string, body: unknown): Promise<EnqueueOutcome> {
    const outcome = await this.claimAndAdd(idempotencyKey, body);
    this.deps.metrics.enqueued.inc({ provider: 'payme_go', result: outcome.result });
    return outcome;
  }

  private async claimAndAdd(idempotencyKey: string, body: unknown): Promise<EnqueueOutcome> {
    const parsed = this.schema.safeParse(body);
    if (!parsed.success) return { result: 'invalid', provider: 'payme_go', problems: fieldProblems(parsed.error) };
    const input = parsed.data;
    const id = paymentRecordId(idempotencyKey);
    const fingerprint = paymentFingerprint(input);
    const { queues, redis, config } = this.deps;
    return enqueueFingerprinted(
      { redis, queues, retentionSeconds: config.retentionSeconds },
      {
        provider: 'payme_go',
        id,
        name: 'charge',
        data: { ...input, fingerprint } satisfies PaymentJobData,
        conflictMessage: 'this Idempotency-Key was already used for a charge with another body; use a new key for a new charge',
      },
    );
  }
}
