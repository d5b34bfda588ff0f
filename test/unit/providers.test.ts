import { describe, expect, it } from 'vitest';
import { CONFIRMATION_SPECS, PROVIDERS, REGISTRY } from '../../src/providers/index.js';
import { classifyTransport, retryAfterMs } from '../../src/providers/transport.js';
import { LIVE_ANOR_SUCCESS, LIVE_BILLING_ERROR, LIVE_CLICK_SUCCESS, LIVE_UZUM_SUCCESS, LIVE_VALIDATION_BLANK, LIVE_VALIDATION_NULL } from '../fixtures/live-bodies.js';
import { ANOR_CONFIRM_SUCCESS, FISCALBOX_ERROR, PAYME_CONFIRM_SUCCESS, UZUM_CONFIRM_SUCCESS } from '../fixtures/seed-bodies.js';
import { httpAnswer } from '../helpers/answers.js';

const http = httpAnswer;
const clone = <T>(v: T): T => structuredClone(v);
const classifyPayme = REGISTRY.payme.classify;
const classifyUzum = REGISTRY.uzum.classify;
const classifyAnor = REGISTRY.anor.classify;

/** The documented success body of each confirmation provider (seeds 000–002; Click's page for Click). */
const SEED_SUCCESS: Record<string, unknown> = { payme: PAYME_CONFIRM_SUCCESS, uzum: UZUM_CONFIRM_SUCCESS, anor: ANOR_CONFIRM_SUCCESS, click: LIVE_CLICK_SUCCESS };

describe('the provider registry', () => {
  it('has one row per provider, keyed by its name', () => {
    expect(Object.keys(REGISTRY).sort()).toEqual([...PROVIDERS].sort());
    for (const name of PROVIDERS) expect(REGISTRY[name].name).toBe(name);
  });

  it('every confirmation provider has a seed success body here', () => {
    for (const spec of CONFIRMATION_SPECS) expect(SEED_SUCCESS[spec.name], spec.name).toBeDefined();
  });
});

describe.each(CONFIRMATION_SPECS.map((spec) => [spec.name, spec] as const))('%s classify (CONTRACT §4 rows)', (name, spec) => {
  const classify = spec.classify;

  it('the seed success body is success, with the provider data kept', () => {
    const outcome = classify(http(200, SEED_SUCCESS[name]));
    expect(outcome.class).toBe('success');
  });

  it('the seed error body (is_success false, HTTP 200) is rejected with the provider code and message', () => {
    expect(classify(http(200, FISCALBOX_ERROR))).toMatchObject({ class: 'rejected', code: '-31001', message: 'Платёж не найден' });
  });

  it.each(Object.entries({ LIVE_VALIDATION_BLANK, LIVE_VALIDATION_NULL, LIVE_BILLING_ERROR }))('the live refusal %s is rejected at once', (_name, body) => {
    expect(classify(http(200, body)).class).toBe('rejected');
  });

  it('a refusal whose data is an object with null fields, or whose error.code is null, is rejected, not retried', () => {
    expect(classify(http(200, { data: { payment_id: null, status: null }, error: { code: 5, message: 'no' }, is_success: false })).class).toBe('rejected');
    expect(classify(http(200, { data: null, error: { code: null, message: null, data: null }, is_success: false }))).toMatchObject({ class: 'rejected', code: 'provider_error' });
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

  it.each([
    ['no is_success', { ok: true }],
    ['is_success as a string', { data: {}, error: null, is_success: 'true' }],
    ['an array', [{ is_success: true }]],
  ])('a 200 whose JSON is not an object with a boolean is_success (%s) is retryable', (_name, body) => {
    expect(classify(http(200, body))).toMatchObject({ class: 'retryable', code: 'undocumented_body' });
  });

  it('timeouts and network errors are retryable', () => {
    expect(classify({ kind: 'timeout', code: 'timeout', message: 't', latencyMs: 1, requestSent: true })).toMatchObject({ class: 'retryable', code: 'timeout' });
    expect(classify({ kind: 'network', code: 'ECONNRESET', message: 'r', latencyMs: 1, requestSent: true })).toMatchObject({ class: 'retryable', code: 'ECONNRESET' });
  });
});

describe('the live answers of ../shared/fiscalbox-live.md', () => {
  it('anor: the live success (error_code, message and payment_id null) is success, kept as it came', () => {
    expect(classifyAnor(http(200, LIVE_ANOR_SUCCESS))).toEqual({ class: 'success', data: LIVE_ANOR_SUCCESS.data });
  });

  it('uzum: the live success without a phone number is success', () => {
    expect(classifyUzum(http(200, LIVE_UZUM_SUCCESS))).toEqual({ class: 'success', data: LIVE_UZUM_SUCCESS.data });
  });

  it('payme: a success whose id, create_time or pay_time is null is success', () => {
    const body = { data: { id: null, result: { receipt: { _id: null, create_time: null, pay_time: null } }, error: null }, error: null, is_success: true };
    expect(classifyPayme(http(200, body)).class).toBe('success');
    expect(classifyPayme(http(200, { data: { id: null, result: null, error: null }, error: null, is_success: true })).class).toBe('success');
  });

  it('a code 7 validation refusal keeps the parsed message as details and says which field', () => {
    expect(classifyPayme(http(200, LIVE_VALIDATION_BLANK))).toMatchObject({
      class: 'rejected',
      code: '7',
      message: 'payment_id: This field may not be blank.',
      details: { payment_id: ['This field may not be blank.'] },
    });
    expect(classifyUzum(http(200, LIVE_VALIDATION_NULL))).toMatchObject({ class: 'rejected', code: '7', details: { fiscal_sign: ['This field may not be null.'] } });
  });

  it('click: the page\'s success (every field but status null) is success, kept as it came', () => {
    expect(REGISTRY.click.classify(http(200, LIVE_CLICK_SUCCESS))).toEqual({ class: 'success', data: LIVE_CLICK_SUCCESS.data });
  });

  it.each([['error'], ['failed'], [null], ['SUCCESSFULLY']])('click: data.status %j is not a success: rejected', (status) => {
    const outcome = REGISTRY.click.classify(http(200, { ...LIVE_CLICK_SUCCESS, data: { ...LIVE_CLICK_SUCCESS.data, status, error: 'Click payment not found' } }));
    expect(outcome).toMatchObject({ class: 'rejected', message: 'Click payment not found' });
  });

  it('BILLING_ERROR (code 104) is rejected with its code and words', () => {
    expect(classifyAnor(http(200, LIVE_BILLING_ERROR))).toMatchObject({ class: 'rejected', code: '104', message: 'BILLING_ERROR' });
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

  it('uzum: FAILED with error_code "0" is rejected by its status', () => {
    const body = clone(UZUM_CONFIRM_SUCCESS);
    Object.assign(body.data, { payment_status: 'FAILED' });
    expect(classifyUzum(http(200, body))).toMatchObject({ class: 'rejected', code: 'payment_status_failed' });
  });

  it('uzum: a non-zero error_code with SUCCESS status is still a rejection', () => {
    const body = clone(UZUM_CONFIRM_SUCCESS);
    Object.assign(body.data, { error_code: '17' });
    expect(classifyUzum(http(200, body))).toMatchObject({ class: 'rejected', code: '17' });
  });

  it('uzum: error_code as the number 0 reads as "0"', () => {
    const body = clone(UZUM_CONFIRM_SUCCESS);
    Object.assign(body.data, { error_code: 0 });
    expect(classifyUzum(http(200, body)).class).toBe('success');
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

  it.each([0, '0', null])('anor: error_code %j means success (CONTRACT §4)', (code) => {
    const body = clone(ANOR_CONFIRM_SUCCESS) as { data: Record<string, unknown> };
    body.data.error_code = code;
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
