import { describe, expect, it } from 'vitest';
import { classifyAnor } from '../../src/providers/anor.js';
import { classifyPayme } from '../../src/providers/payme.js';
import { classifyUzum } from '../../src/providers/uzum.js';
import { classifyTransport, retryAfterMs } from '../../src/providers/transport.js';
import { ANOR_CONFIRM_SUCCESS, FISCALBOX_ERROR, PAYME_CONFIRM_SUCCESS, UZUM_CONFIRM_SUCCESS } from '../fixtures/seed-bodies.js';
import { httpAnswer } from '../helpers/answers.js';

const http = httpAnswer;
const clone = <T>(v: T): T => structuredClone(v);

const classifiers = { payme: classifyPayme, uzum: classifyUzum, anor: classifyAnor } as const;
const successes = { payme: PAYME_CONFIRM_SUCCESS, uzum: UZUM_CONFIRM_SUCCESS, anor: ANOR_CONFIRM_SUCCESS } as const;

describe.each(Object.keys(classifiers) as (keyof typeof classifiers)[])('%s classify (CONTRACT §4 rows)', (name) => {
  const classify = classifiers[name];

  it('the seed success body is success, with the provider data kept', () => {
    const outcome = classify(http(200, successes[name]));
    expect(outcome.class).toBe('success');
  });

  it('the seed error body (is_success false, HTTP 200) is rejected with the provider code and message', () => {
    expect(classify(http(200, FISCALBOX_ERROR))).toMatchObject({ class: 'rejected', code: '-31001', message: 'Платёж не найден' });
  });

  it.each([500, 502, 503, 504])('HTTP %i is retryable', (status) => {
    expect(classify(http(status, 'upstream down'))).toMatchObject({ class: 'retryable', code: `http_${status}` });
  });

  it('HTTP 429 is retryable and carries Retry-After', () => {
    expect(classify(http(429, '', { 'retry-after': '7' }))).toMatchObject({ class: 'retryable', retryAfterMs: 7000 });
  });

  it.each([400, 401, 403, 404, 422])('HTTP %i is a client (configuration) error', (status) => {
    expect(classify(http(status, { message: 'nope' }))).toMatchObject({ class: 'client_error', code: `http_${status}` });
  });

  it('a 200 whose body is not JSON is retryable', () => {
    expect(classify(http(200, '<html>502 Bad Gateway</html>'))).toMatchObject({ class: 'retryable', code: 'undocumented_body' });
  });

  it('a 200 whose JSON is not the documented envelope is retryable', () => {
    expect(classify(http(200, { ok: true }))).toMatchObject({ class: 'retryable', code: 'undocumented_body' });
  });

  it('timeouts and network errors are retryable', () => {
    expect(classify({ kind: 'timeout', code: 'timeout', message: 't', latencyMs: 1, requestSent: true })).toMatchObject({ class: 'retryable', code: 'timeout' });
    expect(classify({ kind: 'network', code: 'ECONNRESET', message: 'r', latencyMs: 1, requestSent: true })).toMatchObject({ class: 'retryable', code: 'ECONNRESET' });
  });
});

describe('provider quirks from the seeds', () => {
  it('payme: data.error set while is_success is true is a rejection', () => {
    const body = clone(PAYME_CONFIRM_SUCCESS) as { data: { error: string | null; result?: unknown } };
    body.data.error = 'Payment not found';
    delete body.data.result;
    expect(classifyPayme(http(200, body))).toMatchObject({ class: 'rejected', code: 'payme_error', message: 'Payment not found' });
  });

  it('uzum: payment_status FAILED is a rejection even though is_success is true', () => {
    const body = clone(UZUM_CONFIRM_SUCCESS);
    Object.assign(body.data, { payment_status: 'FAILED', error_code: '-31050', error_message: 'Чек не принят' });
    expect(classifyUzum(http(200, body))).toMatchObject({ class: 'rejected', code: '-31050', message: 'Чек не принят' });
  });

  it('uzum: a non-zero error_code with SUCCESS status is still a rejection', () => {
    const body = clone(UZUM_CONFIRM_SUCCESS);
    Object.assign(body.data, { error_code: '17' });
    expect(classifyUzum(http(200, body)).class).toBe('rejected');
  });

  it('uzum: the client phone number is masked in the success data and in rejected responses', () => {
    const outcome = classifyUzum(http(200, UZUM_CONFIRM_SUCCESS));
    expect(outcome).toMatchObject({ class: 'success', data: { client_phone_number: '998*****5009' } });
    const failed = clone(UZUM_CONFIRM_SUCCESS);
    Object.assign(failed.data, { payment_status: 'FAILED', error_code: '1' });
    expect(JSON.stringify(classifyUzum(http(200, failed)))).not.toContain('998712565009');
  });

  it('anor: a non-zero data.error_code is a rejection with the provider message', () => {
    const body = clone(ANOR_CONFIRM_SUCCESS);
    Object.assign(body.data, { error_code: 5, message: 'Transaction not found' });
    expect(classifyAnor(http(200, body))).toMatchObject({ class: 'rejected', code: '5', message: 'Transaction not found' });
  });

  it('anor: accepts the documented nullable transaction_id', () => {
    const body = clone(ANOR_CONFIRM_SUCCESS) as { data: { transaction_id: string | null } };
    body.data.transaction_id = null;
    expect(classifyAnor(http(200, body)).class).toBe('success');
  });
});

describe('transport rules', () => {
  it('2xx is left to the provider', () => {
    expect(classifyTransport(http(200, {}), 'x')).toBeUndefined();
  });
  it('Retry-After as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }, now)).toBe(3000);
    expect(retryAfterMs({}, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
  });
});
