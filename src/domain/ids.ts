import type { Provider } from './provider.js';

/** Characters that may stand in a job id as they are; BullMQ refuses `:` and integer-looking ids. */
const SAFE_ID = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * The record id (= BullMQ job id) of a provider's payment: deterministic, so a repeat of the same payment finds the
 * same record. Ids from outside that are not plain are base64url-encoded behind `~`, which a plain id cannot contain,
 * so the two forms never collide.
 */
export function recordId(provider: Provider, externalId: string): string {
  const encoded = SAFE_ID.test(externalId) ? externalId : `~${Buffer.from(externalId, 'utf8').toString('base64url')}`;
  return `${provider}.${encoded}`;
}

export function providerOfRecordId(id: string): string {
  const dot = id.indexOf('.');
  return dot > 0 ? id.slice(0, dot) : '';
}

/**
 * The key of a sale's receipt record (CONTRACT §3: one receipt per payment_id + operation_type). The operation type is
 * a lower_snake code, so the first `-` separates the two unambiguously.
 */
export function saleKey(sale: { payment_id: string | number; operation_type: string }): string {
  return `${sale.operation_type}-${String(sale.payment_id)}`;
}
