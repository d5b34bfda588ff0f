import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Result-callback signatures (CONTRACT §4), the scheme of Stripe's `Stripe-Signature` and Standard Webhooks:
 * `X-Fiscal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with CALLBACK_SECRET>`. The timestamp is
 * signed with the body, so a receiver that checks its freshness also refuses a captured request replayed later.
 *
 * This file is the package's public `fiscal-worker/callbacks` entry: no imports beyond node:crypto, so a receiver can
 * load it without the service's dependencies or configuration.
 */

export const SIGNATURE_HEADER = 'x-fiscal-signature';
/** The same on every retry of one event, so a receiver can de-duplicate. */
export const EVENT_ID_HEADER = 'x-fiscal-event-id';
/** Five minutes either way, as Stripe and Standard Webhooks default to. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

type RawBody = string | Uint8Array;

function hmac(secret: string, timestamp: number, rawBody: RawBody): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();
}

/** The `X-Fiscal-Signature` value for `rawBody` sent at `timestamp` (unix seconds). */
export function signCallback(rawBody: RawBody, secret: string, timestamp: number): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, rawBody).toString('hex')}`;
}

/**
 * True when `header` (the `X-Fiscal-Signature` value) signs exactly `rawBody` with `secret` and its timestamp is within
 * `toleranceSeconds` of `nowMs`. Pass the body bytes as received, before any JSON parsing. Several `v1=` entries are
 * accepted (any one matching is enough), so a sender may sign with an old and a new secret while they rotate.
 */
export function verifyCallback(
  rawBody: RawBody,
  header: string | string[] | undefined | null,
  secret: string,
  toleranceSeconds: number = DEFAULT_TOLERANCE_SECONDS,
  nowMs: number = Date.now(),
): boolean {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string' || !secret) return false;
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const item = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(item)) timestamp = Number(item);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(item)) signatures.push(Buffer.from(item, 'hex'));
  }
  if (timestamp === undefined || signatures.length === 0) return false;
  if (Math.abs(nowMs / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = hmac(secret, timestamp, rawBody);
  return signatures.some((candidate) => timingSafeEqual(candidate, expected));
}
