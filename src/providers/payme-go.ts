import { z } from 'zod';
import { fiscalQrCode } from '../domain/qr.js';
import { classifyFiscalBox, type FiscalBoxTable } from './fiscalbox.js';
import type { ProviderAnswer } from './transport.js';
import type { PaymentSpec, RequestConfig } from './spec.js';

/** Seed 003: `POST /payment/payme` on the FiscalBox base URL. */
export const PAYME_GO_PATH = '/payment/payme';

/**
 * CONTRACT §3 `POST /v1/payments/payme` (seed 003): `amount` a positive integer in sums, `qr_code` the customer's
 * Payme code (digits: 18 and 20 seen live), and optionally the fiscal receipt to attach once charged.
 */
export function paymentSchema(config: RequestConfig) {
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

/** The request body, exactly the seed's two fields. */
export function paymeGoRequestBody(input: { amount: number; qr_code: string }): string {
  return JSON.stringify({ amount: input.amount, qr_code: input.qr_code });
}

/**
 * `data.status` decides (CONTRACT §4). The seed's example says "successfully"; the public notes describe the values as
 * "success, error" (../shared/fiscalbox-live.md). Those are known; any other value (null, "pending", another type)
 * cannot be read as "not charged", so it is ambiguous and a person decides, never a retry.
 */
const PAYME_GO: FiscalBoxTable = {
  provider: 'payme_go',
  decisive: [{ field: 'status', success: ['successfully', 'success'], failure: ['failed', 'error'], otherwise: 'ambiguous' }],
  messageField: 'message',
  atMostOnce: true,
};

/**
 * A charge is classified for at most once (issue 7): retryable only when the request provably never left; ambiguous
 * after a possible send without a clear answer; rejected when FiscalBox says no (`is_success: false`, HTTP 200, seed 003)
 * or reports a failed status.
 */
export function classifyPaymeGo(answer: ProviderAnswer) {
  return classifyFiscalBox(PAYME_GO, answer);
}

export const paymeGo: PaymentSpec = {
  name: 'payme_go',
  kind: 'payment',
  title: 'Payme Go',
  base: 'fiscalbox',
  path: PAYME_GO_PATH,
  processor: 'charge',
  request: paymentSchema,
  classify: classifyPaymeGo,
  confirmWith: 'payme',
};
