import type { z } from 'zod';
import type { Config } from '../config/env.js';
import type { PaymentRequest, ReceiptRequest } from '../domain/jobs.js';
import type { Outcome } from '../domain/outcome.js';
import type { Provider, ProviderKind } from '../domain/provider.js';
import type { ProviderAnswer } from './transport.js';

/** Which configured base URL a provider's endpoints hang off (CONTRACT §2: FISCALBOX_BASE_URL, FREEDOMPAY_BASE_URL). */
export type ProviderBase = 'fiscalbox' | 'freedompay';

/** How a provider's jobs are worked: workers/processors.ts has one processor factory per entry. */
export type ProcessorKind = 'confirm' | 'charge' | 'receipt';

/** What a request schema may depend on: the configuration that says which receipts are accepted. */
export type RequestConfig = Pick<Config, 'qrAllowedHosts'>;


interface SpecBase<K extends ProviderKind> {
  name: Provider;
  kind: K;
  /** How people call it: board titles, docs, messages. */
  title: string;
  base: ProviderBase;
  /** The endpoint a job calls first, as in the seed. */
  path: string;
  /** CONTRACT §4: exactly one class per call, read from the fields that decide it. */
  classify(answer: ProviderAnswer): Outcome;
  processor: ProcessorKind;
}

/** Seeds 000–002 and Click: `POST {<idField>, qr_code}` attaches a fiscal receipt to a payment. */
export interface ConfirmationSpec extends SpecBase<'confirmation'> {
  /** The request's id field, named as in the seed (Anor calls it `transaction_id`). */
  idField: 'payment_id' | 'transaction_id';
  /** `{<idField>, qr_code}`: the provider's fields of `POST /v1/confirmations`. */
  request(config: RequestConfig): z.ZodObject;
}

/** Seed 003: a charge of a customer's Payme code, at most once. */
export interface PaymentSpec extends SpecBase<'payment'> {
  request(config: RequestConfig): z.ZodType<PaymentRequest>;
  /** The confirmation provider a successful charge's fiscal receipt is attached with (CONTRACT §3 `fiscal_qr_code`). */
  confirmWith: Provider;
}

/** Seed 004: a receipt registered at the fiscal data operator, never twice for one sale. */
export interface ReceiptSpec extends SpecBase<'receipt'> {
  /** The seed's create request without merchant_id; every field it accepts is sent to the provider as given. */
  request(config: RequestConfig): z.ZodType<ReceiptRequest>;
}

export type ProviderSpec = ConfirmationSpec | PaymentSpec | ReceiptSpec;
