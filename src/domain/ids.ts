import type { Provider } from '../config/env.js';

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
