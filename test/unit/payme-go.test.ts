import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { paymentFingerprint, paymentRecordId } from '../../src/producers/payments.js';
import { classifyPaymeGo, paymeGoRequestBody, paymentSchema } from '../../src/providers/payme-go.js';
import type { ProviderAnswer } from '../../src/providers/transport.js';
import { FISCALBOX_ERROR } from '../fixtures/seed-bodies.js';
import { PAYME_GO_REQUEST, PAYME_GO_SUCCESS } from '../fixtures/seed-bodies-003-004.js';
import { LIVE_BILLING_ERROR } from '../fixtures/live-bodies.js';
import { httpAnswer } from '../helpers/answers.js';

const http = httpAnswer;
const network = (code: string, requestSent: boolean): ProviderAnswer => ({ kind: 'network', code, message: code, latencyMs: 1, requestSent });
const withData = (data: Record<string, unknown>) => ({ ...PAYME_GO_SUCCESS, data: { ...PAYME_GO_SUCCESS.data, ...data } });

describe('classifyPaymeGo (seed 003, at most once)', () => {
  it('the seed success body is success, with the client phone number masked', () => {
    const outcome = classifyPaymeGo(http(200, PAYME_GO_SUCCESS));
    expect(outcome).toEqual({ class: 'success', data: { ...PAYME_GO_SUCCESS.data, client_phone_number: '998*****5009' } });
    expect(JSON.stringify(outcome)).not.toContain('998712565009');
  });

  it('the seed error body (is_success false, HTTP 200) is rejected with the provider code and message', () => {
    expect(classifyPaymeGo(http(200, FISCALBOX_ERROR))).toMatchObject({ class: 'rejected', code: '-31001', message: 'Платёж не найден' });
  });

  it.each(['failed', 'error'])('data.status %j (is_success true) is a known failure: rejected, not charged', (status) => {
    const outcome = classifyPaymeGo(http(200, withData({ status, message: 'declined' })));
    expect(outcome).toMatchObject({ class: 'rejected', code: `status_${status}`, message: 'declined' });
    // The rejection keeps the answer for the record, personal data masked.
    expect(JSON.stringify(outcome)).not.toContain('998712565009');
  });

  it.each(['successfully', 'success'])('data.status %j is a known success (the seed says one, the live notes the other)', (status) => {
    expect(classifyPaymeGo(http(200, withData({ status }))).class).toBe('success');
  });

  it.each([['pending'], [''], [null], [1], [{ state: 'ok' }]])('data.status %j is neither known success nor failure: ambiguous, never "not charged"', (status) => {
    expect(classifyPaymeGo(http(200, withData({ status })))).toMatchObject({ class: 'ambiguous' });
  });

  it('the live BILLING_ERROR refusal (code 104, HTTP 200) is rejected: FiscalBox said no', () => {
    expect(classifyPaymeGo(http(200, LIVE_BILLING_ERROR))).toMatchObject({ class: 'rejected', code: '104', message: 'BILLING_ERROR' });
  });

  it('a success whose payment_id is null is still a success: the charge was made (the chain says what is missing)', () => {
    expect(classifyPaymeGo(http(200, withData({ payment_id: null }))).class).toBe('success');
  });

  it.each([
    ['ECONNREFUSED', 'connection refused'],
    ['ENOTFOUND', 'DNS failure'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connect timeout'],
  ])('%s before sending (%s) is the only retryable case', (code) => {
    expect(classifyPaymeGo(network(code, false))).toMatchObject({ class: 'retryable', code });
  });

  it('a timeout after sending is ambiguous', () => {
    expect(classifyPaymeGo({ kind: 'timeout', code: 'timeout', message: 'no answer', latencyMs: 1000, requestSent: true })).toMatchObject({ class: 'ambiguous', code: 'timeout' });
  });

  it.each(['ECONNRESET', 'UND_ERR_SOCKET'])('%s after sending is ambiguous', (code) => {
    expect(classifyPaymeGo(network(code, true))).toMatchObject({ class: 'ambiguous', code });
  });

  it.each([500, 502, 503, 504, 429])('HTTP %i is ambiguous: the charge may have been made', (status) => {
    expect(classifyPaymeGo(http(status, 'upstream'))).toMatchObject({ class: 'ambiguous', code: `http_${status}` });
  });

  it.each([
    ['not JSON', '<html>502 Bad Gateway</html>'],
    ['not the envelope', { ok: true }],
    ['is_success without data', { data: null, error: null, is_success: true }],
  ])('a 200 with %s is ambiguous', (_name, body) => {
    expect(classifyPaymeGo(http(200, body)).class).toBe('ambiguous');
  });

  it.each([400, 401, 403, 404])('HTTP %i is a client (configuration) error', (status) => {
    expect(classifyPaymeGo(http(status, { message: 'nope' }))).toMatchObject({ class: 'client_error', code: `http_${status}` });
  });

  it('sends exactly the seed request fields', () => {
    expect(JSON.parse(paymeGoRequestBody({ ...PAYME_GO_REQUEST, fiscal_qr_code: 'x' } as never))).toEqual(PAYME_GO_REQUEST);
  });
});

describe('POST /v1/payments/payme body', () => {
  const schema = paymentSchema(loadConfig({}));
  const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';

  it('accepts the seed request, optionally with the fiscal receipt to attach', () => {
    expect(schema.parse(PAYME_GO_REQUEST)).toEqual(PAYME_GO_REQUEST);
    expect(schema.parse({ ...PAYME_GO_REQUEST, fiscal_qr_code: QR }).fiscal_qr_code).toBe(QR);
  });

  it.each([
    [{ amount: 10.5, qr_code: '50502044301381396427' }, 'amount'],
    [{ amount: -1, qr_code: '50502044301381396427' }, 'amount'],
    [{ amount: '1000', qr_code: '50502044301381396427' }, 'amount'],
    [{ amount: 1000, qr_code: 'abc' }, 'qr_code'],
    [{ amount: 1000 }, 'qr_code'],
    [{ amount: 1000, qr_code: '50502044301381396427', fiscal_qr_code: 'https://evil.example/check?t=1&r=2&c=3&s=4' }, 'fiscal_qr_code'],
    [{ amount: 1000, qr_code: '50502044301381396427', tip: 5 }, ''],
  ])('refuses %j (field %s)', (body, field) => {
    const parsed = schema.safeParse(body);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.path.join('.')).toBe(field);
  });

  it('derives a plain record id from any Idempotency-Key, and a fingerprint from the body', () => {
    expect(paymentRecordId('order:42/β')).toMatch(/^payme_go\.[A-Za-z0-9_-]{43}$/);
    expect(paymentRecordId('a')).toBe(paymentRecordId('a'));
    expect(paymentRecordId('a')).not.toBe(paymentRecordId('b'));
    expect(paymentFingerprint(PAYME_GO_REQUEST)).not.toBe(paymentFingerprint({ ...PAYME_GO_REQUEST, amount: 1001 }));
    expect(paymentFingerprint(PAYME_GO_REQUEST)).not.toBe(paymentFingerprint({ ...PAYME_GO_REQUEST, fiscal_qr_code: QR }));
  });
});
