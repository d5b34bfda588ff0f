import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildJwsHeader, readJwsHeader, signFreedomPayRequest, verifyFreedomPaySignature } from '../../src/providers/freedompay-jws.js';

const SECRET = 'sandbox-secret-key';
const BODY = '{"payment_id":"764239789","operation_type":"sell","positions":[{"name":"Товар №1","price":50,"quantity":2}],"settlements":[{"type":"cashless","sum":100}]}';
const POST = { method: 'POST', uri: '/v5/receipts', merchantId: '542088', secretKey: SECRET, body: BODY };

// Computed once (and cross-checked with Python's hmac module) when this test was written; it must never change
// unless the provider's signing rules do.
const KNOWN_POST_TOKEN =
  'eyJ1cmkiOiIvdjUvcmVjZWlwdHMiLCJtZXJjaGFudF9pZCI6IjU0MjA4OCIsIm1ldGhvZCI6IlBPU1QiLCJwYXJhbXMiOiIiLCJhbGciOiJIUzUxMiJ9' +
  '..j1yNjzJuh5xgxrMYdX8SxkO-f1gtiMOVGsbhabjIni8GFcbqKAu_Qskah4buE0F-YF4o7gpHFCbpb0Mye2xedw';
const GET_URI = '/v5/receipts/bb938d6c-6c1c-44a0-aa54-32c3e14fddb7';
const KNOWN_GET_TOKEN =
  'eyJ1cmkiOiIvdjUvcmVjZWlwdHMvYmI5MzhkNmMtNmMxYy00NGEwLWFhNTQtMzJjM2UxNGZkZGI3IiwibWVyY2hhbnRfaWQiOiI1NDIwODgiLCJtZXRob2QiOiJHRVQiLCJwYXJhbXMiOiIiLCJhbGciOiJIUzUxMiJ9' +
  '..KjjHQSJMmjs9abfb0RdIJr9QkDEnuFmrbf03xfR8TQcaWOWW4f3EeiRJCf4gGtfkPCBJqayYFes3n1f4SrXf5A';

/** RFC 7515 appendix F by hand: HS512 over b64url(header) "." b64url(body), payload segment cut out. */
function independentToken(headerJson: string, body: string, key: string): string {
  const h = Buffer.from(headerJson, 'utf8').toString('base64url');
  const p = Buffer.from(body, 'utf8').toString('base64url');
  return `${h}..${createHmac('sha512', key).update(`${h}.${p}`).digest('base64url')}`;
}

describe('freedom pay JWS signature', () => {
  it('builds the header from the table, field for field and in order', () => {
    expect(JSON.stringify(buildJwsHeader({ uri: '/v5/receipts?x=1', merchantId: '542088', method: 'post' }))).toBe(
      '{"uri":"/v5/receipts","merchant_id":"542088","method":"POST","params":"","alg":"HS512"}',
    );
    expect(buildJwsHeader({ uri: '/v5/receipts', merchantId: 542088, method: 'GET' }).merchant_id).toBe(542088);
  });

  it('signs a POST to the known answer', () => {
    const token = signFreedomPayRequest(POST);
    expect(token).toBe(KNOWN_POST_TOKEN);
    expect(token).toBe(
      independentToken('{"uri":"/v5/receipts","merchant_id":"542088","method":"POST","params":"","alg":"HS512"}', BODY, SECRET),
    );
  });

  it('signs a GET over an empty payload to the known answer', () => {
    const token = signFreedomPayRequest({ method: 'GET', uri: GET_URI, merchantId: '542088', secretKey: SECRET });
    expect(token).toBe(KNOWN_GET_TOKEN);
    expect(token).toBe(independentToken(`{"uri":"${GET_URI}","merchant_id":"542088","method":"GET","params":"","alg":"HS512"}`, '', SECRET));
  });

  it('is a detached JWS: three segments, the middle one empty', () => {
    const [header, payload, signature] = signFreedomPayRequest(POST).split('.');
    expect(payload).toBe('');
    expect(header).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(signature ?? '', 'base64url')).toHaveLength(64); // SHA-512
  });

  it('verifies its own signature, string or byte body', () => {
    expect(verifyFreedomPaySignature(KNOWN_POST_TOKEN, { method: 'POST', uri: '/v5/receipts', body: BODY }, SECRET)).toEqual({ ok: true, merchantId: '542088' });
    expect(verifyFreedomPaySignature(KNOWN_POST_TOKEN, { method: 'post', uri: '/v5/receipts', body: Buffer.from(BODY) }, SECRET).ok).toBe(true);
    expect(verifyFreedomPaySignature(KNOWN_GET_TOKEN, { method: 'GET', uri: GET_URI }, SECRET).ok).toBe(true);
  });

  it('reports the merchant id as a string even when signed as a number', () => {
    const token = signFreedomPayRequest({ ...POST, merchantId: 542088 });
    expect(verifyFreedomPaySignature(token, { method: 'POST', uri: '/v5/receipts', body: BODY }, SECRET)).toEqual({ ok: true, merchantId: '542088' });
  });

  it.each([
    ['a changed body', { method: 'POST', uri: '/v5/receipts', body: BODY.replace('764239789', '764239780') }, SECRET],
    ['a changed uri', { method: 'POST', uri: '/v5/receipts/other', body: BODY }, SECRET],
    ['a changed method', { method: 'PUT', uri: '/v5/receipts', body: BODY }, SECRET],
    ['the wrong key', { method: 'POST', uri: '/v5/receipts', body: BODY }, 'another-secret'],
  ])('rejects %s', (_name, request, key) => {
    const result = verifyFreedomPaySignature(KNOWN_POST_TOKEN, request, key);
    expect(result.ok).toBe(false);
  });

  it('rejects a header that was swapped after signing (uri of another path, same signature)', () => {
    const [, , signature] = KNOWN_POST_TOKEN.split('.');
    const forged = `${Buffer.from('{"uri":"/v5/receipts/x","merchant_id":"542088","method":"POST","params":"","alg":"HS512"}').toString('base64url')}..${signature}`;
    expect(verifyFreedomPaySignature(forged, { method: 'POST', uri: '/v5/receipts/x', body: BODY }, SECRET)).toEqual({ ok: false, reason: 'signature does not match' });
  });

  it('rejects a validly signed header with another alg', () => {
    const token = independentToken('{"uri":"/v5/receipts","merchant_id":"1","method":"POST","params":"","alg":"HS256"}', BODY, SECRET);
    expect(verifyFreedomPaySignature(token, { method: 'POST', uri: '/v5/receipts', body: BODY }, SECRET)).toMatchObject({ ok: false, reason: expect.stringContaining('HS512') });
  });

  it.each([
    ['missing', undefined],
    ['not a JWS', 'abc'],
    ['not detached', KNOWN_POST_TOKEN.replace('..', `.${Buffer.from(BODY).toString('base64url')}.`)],
    ['header not JSON', `${Buffer.from('nope').toString('base64url')}..AAAA`],
    ['truncated signature', KNOWN_POST_TOKEN.slice(0, -4)],
  ])('rejects a token that is %s', (_name, token) => {
    expect(verifyFreedomPaySignature(token, { method: 'POST', uri: '/v5/receipts', body: BODY }, SECRET).ok).toBe(false);
  });

  it('reads the header without verifying', () => {
    expect(readJwsHeader(KNOWN_POST_TOKEN)).toMatchObject({ merchant_id: '542088', uri: '/v5/receipts' });
    expect(readJwsHeader('garbage')).toBeUndefined();
  });
});
