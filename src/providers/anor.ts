import { z } from 'zod';
import { rejected, success, type Outcome } from '../domain/outcome.js';
import { maskPersonalData } from '../domain/personal-data.js';
import type { ConfirmProvider } from './confirm-provider.js';
import { envelopeError, fiscalBoxEnvelope, readFiscalBox } from './fiscalbox.js';
import { responseForRecord, type ProviderAnswer } from './transport.js';

/** Seed 002: the id is `transaction_id`; failure is reported in `data.error_code` (integer, 0 = done). */
const AnorConfirmData = z
  .object({
    message: z.string().nullish(),
    error_code: z.union([z.number(), z.string().regex(/^-?\d+$/)]).transform(Number),
    payment_id: z.union([z.number(), z.string()]).nullish(),
    transaction_id: z.string().nullish(),
  })
  .loose();

const AnorConfirmResponse = fiscalBoxEnvelope(AnorConfirmData);

export function classifyAnor(answer: ProviderAnswer): Outcome {
  const read = readFiscalBox(answer, AnorConfirmResponse, 'anor');
  if ('outcome' in read) return read.outcome;
  const { is_success, data, error } = read.body;
  const response = responseForRecord(answer);
  if (!is_success) {
    const e = envelopeError(error);
    return rejected(e.code, e.message, response);
  }
  if (!data) return rejected('anor_no_data', 'anor answered is_success without data', response);
  if (data.error_code !== 0) return rejected(String(data.error_code), data.message ?? 'anor reported a failure', response);
  return success(maskPersonalData(data));
}

export const anor: ConfirmProvider = {
  name: 'anor',
  idField: 'transaction_id',
  path: '/payment/anor_confirm',
  classify: classifyAnor,
};
