import { z } from 'zod';
import { ambiguous, clientError, rejected, retryable, success, type Outcome } from '../domain/outcome.js';
import { maskPersonalData } from '../domain/personal-data.js';
import { envelopeError, fiscalBoxEnvelope } from './fiscalbox.js';
import { responseForRecord, type ProviderAnswer } from './transport.js';

/** Seed 003: `POST /payment/payme` on the FiscalBox base URL. */
export const PAYME_GO_PATH = '/payment/payme';

/** Seed 003 success: `data.status` "successfully"; every other status ("failed", etc.) is the provider saying no. */
export const PAYME_GO_SUCCESS_STATUS = 'successfully';

/** Seed 003 response `data`; `payment_id` is what `payme_confirm` (seed 000) needs later. */
const PaymeGoData = z
  .object({
    amount: z.number().optional(),
    transaction_id: z.string().nullish(),
    payment_id: z.union([z.string().min(1), z.number()]).transform(String).nullish(),
    inn: z.string().nullish(),
    qr_code: z.string().nullish(),
    kkm_id: z.string().nullish(),
    device_id: z.string().nullish(),
    status: z.string(),
    message: z.string().nullish(),
    client_phone_number: z.string().nullish(),
  })
  .loose();

export type PaymeGoData = z.infer<typeof PaymeGoData>;

const PaymeGoResponse = fiscalBoxEnvelope(PaymeGoData);

/** The request body, exactly the seed's two fields. */
export function paymeGoRequestBody(input: { amount: number; qr_code: string }): string {
  return JSON.stringify({ amount: input.amount, qr_code: input.qr_code });
}

/**
 * A charge moves money, so it is classified for at-most-once (issue 7), not like the confirmations:
 * - retryable only when the request provably never left this process (connection refused, DNS: `requestSent: false`);
 * - ambiguous once it may have reached the provider without a clear answer: timeout, reset, HTTP 5xx and 429, a body
 *   that is not the documented JSON, or "success" without the payment_id. A person decides; nothing repeats it.
 * - rejected for `is_success: false` (HTTP 200, seed 003) and for any `data.status` other than "successfully".
 */
export function classifyPaymeGo(answer: ProviderAnswer): Outcome {
  if (answer.kind !== 'http') {
    if (answer.kind === 'network' && !answer.requestSent) return retryable(answer.code, `${answer.message} (the charge was not sent)`);
    return ambiguous(answer.code, `${answer.message}; the charge may have reached Payme Go: check it before replaying`);
  }
  const response = responseForRecord(answer);
  const { status } = answer;
  if (status === 429 || status >= 500) {
    return ambiguous(`http_${status}`, `payme_go answered HTTP ${status}; the charge may have been made: check it before replaying`, response);
  }
  if (status < 200 || status >= 300) {
    return clientError(`http_${status}`, `payme_go answered HTTP ${status} (check FISCALBOX_BASE_URL and FISCALBOX_TOKEN)`, response);
  }
  const parsed = PaymeGoResponse.safeParse(answer.json);
  if (!parsed.success) {
    return ambiguous('undocumented_body', 'payme_go answered a body that is not the documented JSON; the charge may have been made', response);
  }
  const { is_success, data, error } = parsed.data;
  if (!is_success) {
    const e = envelopeError(error);
    return rejected(e.code, e.message, response);
  }
  if (!data) return ambiguous('payme_go_no_data', 'payme_go answered is_success without data; the charge may have been made', response);
  if (data.status !== PAYME_GO_SUCCESS_STATUS) {
    return rejected(`status_${data.status || 'empty'}`, data.message ?? `payme_go payment status ${data.status}`, response);
  }
  if (!data.payment_id) return ambiguous('payme_go_no_payment_id', 'payme_go answered success without payment_id', response);
  return success(maskPersonalData(data));
}
