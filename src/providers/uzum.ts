import { z } from 'zod';
import { rejected, success, type Outcome } from '../domain/outcome.js';
import { maskPersonalData } from '../domain/personal-data.js';
import type { ConfirmProvider } from './confirm-provider.js';
import { envelopeError, fiscalBoxEnvelope, readFiscalBox } from './fiscalbox.js';
import { responseForRecord, type ProviderAnswer } from './transport.js';

/** Seed 001: `error_code` is a string ("0" on success); `payment_status` is SUCCESS, FAILED, etc. */
const UzumConfirmData = z
  .object({
    payment_id: z.string().optional(),
    payment_status: z.string(),
    error_code: z.union([z.string(), z.number()]).transform(String),
    error_message: z.string().nullish(),
    client_phone_number: z.string().nullish(),
  })
  .loose();

const UzumConfirmResponse = fiscalBoxEnvelope(UzumConfirmData);

/**
 * Uzum answers HTTP 200 even on validation errors (seed 001), and `is_success: true` does not mean fiscalized:
 * only `payment_status: SUCCESS` with `error_code: "0"` does. Any other status is the provider saying no.
 */
export function classifyUzum(answer: ProviderAnswer): Outcome {
  const read = readFiscalBox(answer, UzumConfirmResponse, 'uzum');
  if ('outcome' in read) return read.outcome;
  const { is_success, data, error } = read.body;
  const response = responseForRecord(answer);
  if (!is_success) {
    const e = envelopeError(error);
    return rejected(e.code, e.message, response);
  }
  if (!data) return rejected('uzum_no_data', 'uzum answered is_success without data', response);
  if (data.payment_status !== 'SUCCESS' || data.error_code !== '0') {
    const code = data.error_code === '0' ? `status_${data.payment_status.toLowerCase()}` : data.error_code;
    return rejected(code, data.error_message ?? `uzum payment_status ${data.payment_status}`, response);
  }
  return success(maskPersonalData(data));
}

export const uzum: ConfirmProvider = {
  name: 'uzum',
  idField: 'payment_id',
  path: '/payment/uzum_confirm',
  classify: classifyUzum,
};
