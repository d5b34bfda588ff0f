import { z } from 'zod';
import { rejected, retryable, success, type Outcome } from '../domain/outcome.js';
import { maskPersonalData } from '../domain/personal-data.js';
import type { ConfirmProvider } from './confirm-provider.js';
import { envelopeError, fiscalBoxEnvelope, readFiscalBox } from './fiscalbox.js';
import { responseForRecord, type ProviderAnswer } from './transport.js';

/** Seed 000: `data.result.receipt` on success; `data.error` is "Error description (null on success)". */
const PaymeConfirmData = z
  .object({
    id: z.number().int().optional(),
    result: z
      .object({ receipt: z.object({ _id: z.string(), create_time: z.number().optional(), pay_time: z.number().optional() }).loose() })
      .loose()
      .nullish(),
    error: z.string().nullish(),
  })
  .loose();

const PaymeConfirmResponse = fiscalBoxEnvelope(PaymeConfirmData);

export function classifyPayme(answer: ProviderAnswer): Outcome {
  const read = readFiscalBox(answer, PaymeConfirmResponse, 'payme');
  if ('outcome' in read) return read.outcome;
  const { is_success, data, error } = read.body;
  const response = responseForRecord(answer);
  if (!is_success) {
    const e = envelopeError(error);
    return rejected(e.code, e.message, response);
  }
  if (data?.error) return rejected('payme_error', data.error, response);
  if (!data?.result?.receipt) return retryable('undocumented_body', 'payme answered is_success without data.result.receipt', { providerResponse: response });
  return success(maskPersonalData(data));
}

export const payme: ConfirmProvider = {
  name: 'payme',
  idField: 'payment_id',
  path: '/payment/payme_confirm',
  classify: classifyPayme,
};
