import type { Outcome } from '../domain/outcome.js';
import type { ProviderAnswer } from './transport.js';

export type ConfirmProviderName = 'payme' | 'uzum' | 'anor';

/** A FiscalBox "attach this receipt to that payment" endpoint (seeds 000–002): one POST, one answer. */
export interface ConfirmProvider {
  name: ConfirmProviderName;
  /** The request's id field, named as in the seed (Anor calls it `transaction_id`). */
  idField: 'payment_id' | 'transaction_id';
  path: string;
  classify(answer: ProviderAnswer): Outcome;
}
