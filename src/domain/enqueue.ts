import type { FieldProblem } from './problems.js';

/** CONTRACT §3: `POST /v1/confirmations/batch` takes at most this many items (the bulk CLI's largest batch too). */
export const BATCH_LIMIT = 1000;

/** What became of one item handed to the product (CONTRACT §3; the `result` label of fiscal_enqueued_total). */
export type EnqueueOutcome =
  | { result: 'created' | 'duplicate'; id: string; provider: string }
  | { result: 'conflict'; id: string; provider: string; message: string }
  | { result: 'invalid'; provider: string | undefined; problems: FieldProblem[] };

export type AcceptedOutcome = Extract<EnqueueOutcome, { result: 'created' | 'duplicate' }>;

/** Bounds the Redis work of one request: rejects once the request's deadline has passed (infra/redis.ts). */
export type Deadline = <T>(work: Promise<T>) => Promise<T>;

/** Set by the product itself, never by a client. */
export interface EnqueueOptions {
  /** Kept on the job as `links`: e.g. the Payme Go charge a confirmation was enqueued by (issue 7). */
  links?: Record<string, string>;
  /** The request's one deadline (CONTRACT §3: 503 within 5 s of arrival, whatever steps it takes). */
  within?: Deadline;
}

/**
 * The one way confirmations enter the product (API, bulk CLI, the charge → confirm chain): implemented by
 * producers/, used by http/ and workers/ through this interface so neither depends on how it is stored.
 */
export interface ConfirmationIntake {
  enqueue(body: unknown, options?: EnqueueOptions): Promise<EnqueueOutcome>;
  /** One outcome per body, in order; one bad item never rejects the others. */
  enqueueMany(bodies: readonly unknown[], options?: EnqueueOptions): Promise<EnqueueOutcome[]>;
  /**
   * Keeps a confirmation the product itself must make but that fails validation (the charge → confirm chain) as a
   * record that ends dead at once with the reason, so an operator sees it and replays it once the cause is fixed.
   */
  hold(body: Record<string, unknown>, options: HoldOptions): Promise<{ id: string }>;
  /** Validates a held confirmation again (on its replay): the job data to send, or why it still cannot be. */
  revalidate(body: unknown): { ok: true; data: Record<string, unknown> } | { ok: false; problems: FieldProblem[] };
}

export interface HoldOptions {
  links: Record<string, string>;
  problems: FieldProblem[];
  /** The record that needed this confirmation (its id names a held record that has no payment id). */
  heldFor: string;
}

export interface PaymentIntake {
  enqueue(idempotencyKey: string, body: unknown, options?: Pick<EnqueueOptions, 'within'>): Promise<EnqueueOutcome>;
}

export interface ReceiptIntake {
  /** Both FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY are needed to sign requests (seed 004). */
  readonly configured: boolean;
  enqueue(body: unknown, options?: Pick<EnqueueOptions, 'within'>): Promise<EnqueueOutcome>;
}
