import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Freedom Pay v5 request signing (seed 004 sends `X-JWS-Signature` on every `/v5/receipts` call).
 *
 * The token is a detached JWS (RFC 7515 appendix F) with HS512 over the raw request body: the signing input is
 * `base64url(header JSON) + "." + base64url(body)`, and the token sent is `<b64 header>..<b64 signature>` (the payload
 * segment cut out, the receiver re-inserts the body it received). Shared by the product's client and the sandbox so
 * both sides agree byte for byte.
 */

export interface JwsHeader {
  uri: string;
  merchant_id: string | number;
  method: string;
  params: string;
  alg: 'HS512';
}

export interface SignInput {
  method: string;
  /** Request path; a query string, if any, is dropped (the header carries the path only). */
  uri: string;
  merchantId: string | number;
  secretKey: string;
  /** Raw request body exactly as sent; empty (or omitted) for GET. */
  body?: string | Uint8Array | undefined;
}

export type VerifyResult = { ok: true; merchantId: string } | { ok: false; reason: string };

/**
 * The protected header, in the order of Freedom Pay's parameter table. Their sample token names the path `path`
 * while the table says `uri`; we follow the table. If the provider turns out to want `path`, change it here only.
 */
export function buildJwsHeader(input: { uri: string; merchantId: string | number; method: string }): JwsHeader {
  return { uri: pathOnly(input.uri), merchant_id: input.merchantId, method: input.method.toUpperCase(), params: '', alg: 'HS512' };
}

export function signFreedomPayRequest(input: SignInput): string {
  const header = b64url(JSON.stringify(buildJwsHeader(input)));
  return `${header}..${hmac(input.secretKey, header, input.body)}`;
}

/**
 * Checks a detached token against the request that carried it. The signature is compared in constant time over the
 * header segment as received (never a re-serialised header), then alg, uri and method must match the request.
 */
export function verifyFreedomPaySignature(
  token: string | undefined,
  request: { method: string; uri: string; body?: string | Uint8Array | undefined },
  secretKey: string,
): VerifyResult {
  if (!token) return { ok: false, reason: 'missing X-JWS-Signature' };
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'signature is not a JWS (three dot-separated parts)' };
  const [headerB64 = '', payloadB64, signatureB64 = ''] = parts;
  if (payloadB64 !== '') return { ok: false, reason: 'signature is not a detached JWS (payload segment must be empty)' };
  const header = readJwsHeader(token);
  if (!header) return { ok: false, reason: 'JWS header is not base64url JSON' };

  const expected = Buffer.from(hmac(secretKey, headerB64, request.body), 'base64url');
  const given = Buffer.from(signatureB64, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature does not match' };

  if (header.alg !== 'HS512') return { ok: false, reason: `alg must be HS512, got ${String(header.alg)}` };
  if (header.uri !== pathOnly(request.uri)) return { ok: false, reason: `uri ${String(header.uri)} does not match the request path` };
  if (typeof header.method !== 'string' || header.method.toUpperCase() !== request.method.toUpperCase()) {
    return { ok: false, reason: `method ${String(header.method)} does not match the request method` };
  }
  if (typeof header.merchant_id !== 'string' && typeof header.merchant_id !== 'number') return { ok: false, reason: 'merchant_id missing from JWS header' };
  return { ok: true, merchantId: String(header.merchant_id) };
}

/** The decoded protected header, unverified (e.g. to learn the merchant when no key is configured). */
export function readJwsHeader(token: string): Partial<Record<keyof JwsHeader, unknown>> | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Partial<Record<keyof JwsHeader, unknown>>) : undefined;
  } catch {
    return undefined;
  }
}

function hmac(secretKey: string, headerB64: string, body: string | Uint8Array | undefined): string {
  const payloadB64 = b64url(body ?? '');
  return createHmac('sha512', Buffer.from(secretKey, 'utf8')).update(`${headerB64}.${payloadB64}`).digest('base64url');
}

function b64url(value: string | Uint8Array): string {
  return (typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength)).toString('base64url');
}

function pathOnly(uri: string): string {
  const q = uri.indexOf('?');
  return q === -1 ? uri : uri.slice(0, q);
}
