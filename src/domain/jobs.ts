import type { Provider } from './provider.js';

/**
 * What each kind of job carries in Redis (BullMQ job data). Only what the worker needs to call the provider and what
 * the record shows; never a secret. Personal data is masked before it is stored; the one exception is the customer's
 * Payme code of a charge, which the charge needs and which is never logged or shown.
 */

/** A confirmation as accepted (seeds 000–002, Click): the request fields and the sales system's own keys. */
export interface ConfirmationRequest {
  provider: Provider;
  /** The provider's id field, named as in its seed: `payment_id`, or `transaction_id` for Anor. */
  payment_id?: string;
  transaction_id?: string;
  /** The fiscal receipt's URL in its one normalized form (domain/qr.ts). */
  qr_code: string;
  reference?: string;
  callback_url?: string;
}

/**
 * What a confirmation job carries: the request without its provider (the queue says it; jobs stored before this
 * change still have it), and the records it was created by (e.g. the Payme Go charge), shown on the record.
 */
export type ConfirmationJobData = Omit<ConfirmationRequest, 'provider'> & { provider?: Provider; links?: Record<string, string> };

/** A Payme Go charge as accepted (seed 003). `qr_code` is the customer's Payme code: needed to charge, never logged. */
export interface PaymentRequest {
  amount: number;
  qr_code: string;
  /** The fiscal receipt to attach once charged (CONTRACT §3). */
  fiscal_qr_code?: string | undefined;
}

export interface PaymentJobData extends PaymentRequest {
  /** sha256 of the canonical body: the same Idempotency-Key with another body is a conflict. */
  fingerprint: string;
}

/** Seed 004 position and settlement, as far as the product computes with them (the rest goes to the provider). */
export interface ReceiptPosition {
  name: string;
  price: number;
  quantity: number;
  sum?: number | undefined;
}

export interface ReceiptSettlement {
  type: string;
  sum: number;
}

/** A Freedom Pay create request as accepted (seed 004 without merchant_id); the fields not named here go as given. */
export interface ReceiptRequest {
  payment_id: string | number;
  operation_type: string;
  positions: ReceiptPosition[];
  settlements: ReceiptSettlement[];
  [field: string]: unknown;
}

/** What a Freedom Pay job carries: the request as accepted, its fingerprint, and (once created) the receipt id. */
export interface ReceiptJobData extends ReceiptRequest {
  fingerprint: string;
  /** Set by the worker with job.updateData right after the create answered (seed 004 `receipt_id`). */
  receipt_id?: string;
  /** The run (see workers/job-progress.ts) that created `receipt_id`; a replay starts over with a look-up. */
  receipt_run?: number;
}
