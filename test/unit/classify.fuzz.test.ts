import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OUTCOME_CLASSES, type Outcome } from '../../src/domain/outcome.js';
import { classifyReceiptList, classifyReceiptRead } from '../../src/providers/freedompay.js';
import { SPECS } from '../../src/providers/index.js';
import * as transport from '../../src/providers/transport.js';
import type { ProviderAnswer } from '../../src/providers/transport.js';

/**
 * Property-based fuzzing of every provider classifier (issue 8, "bad input"): bodies around the seed shapes (fields
 * dropped, retyped, replaced by any JSON), random status codes and headers, text that is not JSON, and transport
 * failures. Whatever comes back, a classifier never throws, yields exactly one of the five classes of CONTRACT §4,
 * says `success` only when the documented success fields hold, and keeps personal data masked.
 */

const PHONE = '998712565009';
const NUM_RUNS = 1500;

type Classifier = (answer: ProviderAnswer) => Outcome;
type Json = any;

// Every provider's classifier from the registry, so a new provider is fuzzed without touching this file, plus the
// Freedom Pay reads that follow a receipt (seed 004).
const classifiers: [string, Classifier][] = [
  ...SPECS.map((spec): [string, Classifier] => [spec.name, spec.classify]),
  ['freedompay_read', classifyReceiptRead],
  ['freedompay_list', classifyReceiptList],
];

const is2xx = (a: ProviderAnswer) => a.kind === 'http' && a.status >= 200 && a.status < 300;
const obj = (v: unknown): Record<string, Json> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Json>) : undefined);
const envelopeOk = (a: ProviderAnswer) => (a.kind === 'http' ? obj(a.json)?.is_success === true : false);
const dataOf = (a: ProviderAnswer) => (a.kind === 'http' ? obj(obj(a.json)?.data) : undefined);

const field = (a: ProviderAnswer, name: string) => dataOf(a)?.[name] ?? null;
const oneOf = (value: unknown, values: unknown[]) => values.includes(value);

/**
 * The decisive fields, per classifier (CONTRACT §4, seeds 000–004): success only when they say so. A classifier not
 * listed gets the general rules only.
 */
const SUCCESS_WHEN: Record<string, (a: ProviderAnswer) => boolean> = {
  payme: (a) => envelopeOk(a) && oneOf(field(a, 'error'), [null, '']),
  uzum: (a) => envelopeOk(a) && field(a, 'payment_status') === 'SUCCESS' && oneOf(field(a, 'error_code'), ['0', 0, null]),
  anor: (a) => envelopeOk(a) && oneOf(field(a, 'error_code'), [null, 0, '0']),
  click: (a) => envelopeOk(a) && field(a, 'status') === 'successfully',
  payme_go: (a) => envelopeOk(a) && oneOf(field(a, 'status'), ['successfully', 'success']),
  freedompay: (a) =>
    field(a, 'status') === 'registered' || (field(a, 'status') === 'pending' && ['string', 'number'].includes(typeof field(a, 'receipt_id')) && field(a, 'receipt_id') !== ''),
  freedompay_read: (a) => oneOf(field(a, 'status'), ['pending', 'registered']),
  freedompay_list: (a) => (a.kind === 'http' ? Array.isArray(obj(a.json)?.data) : false),
};

// ---- arbitraries ---------------------------------------------------------------------------------------------

const wild: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 2, arbitrary: fc.constantFrom(null, '', 0, -1, 1, true, false, '0', '1', 'SUCCESS', 'FAILED', 'successfully', 'pending', 'failed', 'registered', PHONE, [], {}) },
);

/**
 * A value around `seed`: the seed's own shape with each part kept (mostly), dropped or replaced by anything. Sparse
 * enough that a good share of bodies keep every documented field, so both sides of each rule are exercised.
 */
function around(seed: Json): fc.Arbitrary<Json> {
  if (Array.isArray(seed)) return fc.oneof({ weight: 10, arbitrary: fc.array(around(seed[0]), { maxLength: 3 }) }, { weight: 1, arbitrary: wild });
  const o = obj(seed);
  if (o) {
    const parts = Object.fromEntries(Object.entries(o).map(([k, v]) => [k, around(v)]));
    return fc.oneof(
      { weight: 10, arbitrary: fc.record(parts) },
      { weight: 1, arbitrary: fc.record(parts, { requiredKeys: [] }) },
      { weight: 1, arbitrary: wild },
    );
  }
  return fc.oneof({ weight: 12, arbitrary: fc.constant(seed) }, { weight: 1, arbitrary: wild });
}

const error = { code: -31001, message: 'Payment rejected by provider', data: null };
const receipt = {
  merchant_id: '542088',
  receipt_id: 'r-1',
  operation_type: 'sale',
  receipt_format: 'ru_1_05',
  status: 'registered',
  fiscal_document_number: '9322',
  fiscal_storage_number: '9999078900006369',
  fiscal_attribute: '123',
  registered_at: '10.04.2023 15:34:12',
  created_at: '10.04.2023 15:34:10',
  fiscal_provider_id: 'p',
  positions: [{ name: 'x', quantity: 1, price: 100, sum: 100 }],
  total: 100,
  settlements: [{ type: 'cashless', sum: 100 }],
  receipt_method: 'auto',
  error: null,
  link: 'https://consumer.1-ofd-test.ru/v1?t=1',
  payment_id: 'p-1',
  client_phone_number: PHONE,
};
/** The seeds' success and failure bodies; every data shape also carries a phone number, which must never leak. */
const SEEDS: Json[] = [
  { data: { id: 1, result: { receipt: { _id: 'p-1', create_time: 1, pay_time: 2 } }, error: null, client_phone_number: PHONE }, error: null, is_success: true },
  { data: { payment_id: 'p-1', payment_status: 'SUCCESS', error_code: '0', error_message: null, client_phone_number: PHONE }, error: null, is_success: true },
  { data: { message: 'ok', error_code: 0, payment_id: 1, transaction_id: 't-1', client_phone_number: PHONE }, error: null, is_success: true },
  { data: { amount: 1000, transaction_id: 'u', payment_id: 'abc', inn: '1', qr_code: '5050', kkm_id: '1', device_id: '1', status: 'successfully', message: 'ok', client_phone_number: PHONE }, error: null, is_success: true },
  { data: null, error, is_success: false },
  { data: receipt },
  { data: [receipt] },
  { error: { code: 400, message: 'positions[0].price must be a number' } },
];

const jsonBody = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...SEEDS).chain(around) }, { weight: 1, arbitrary: wild });
const textBody = fc.oneof(fc.string(), fc.constantFrom('', '<html>502 Bad Gateway</html>', 'null', '{', '[]', '"x"', '{"is_success":true}'));

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const status = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(200, 201, 204) },
  { weight: 2, arbitrary: fc.constantFrom(400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504) },
  { weight: 2, arbitrary: fc.integer({ min: 100, max: 599 }) },
);
const headers = fc.record(
  { 'retry-after': fc.oneof(fc.string(), fc.nat({ max: 100_000 }).map(String), fc.constant('Wed, 21 Oct 2015 07:28:00 GMT')), 'content-type': fc.constantFrom('application/json', 'text/html') },
  { requiredKeys: [] },
);
const httpAnswer: fc.Arbitrary<ProviderAnswer> = fc
  .record({ status, headers, body: fc.oneof({ weight: 4, arbitrary: jsonBody.map((j) => JSON.stringify(j) ?? '') }, { weight: 1, arbitrary: textBody }) })
  .map(({ status, headers, body }) => ({ kind: 'http' as const, status, headers, text: body, json: parse(body), latencyMs: 5 }));
const failedAnswer: fc.Arbitrary<ProviderAnswer> = fc.record({
  kind: fc.constantFrom('timeout' as const, 'network' as const),
  code: fc.oneof(fc.constantFrom('timeout', 'ECONNRESET', 'ECONNREFUSED', 'UND_ERR_SOCKET', 'ENOTFOUND', 'EPIPE', 'network_error'), fc.string()),
  message: fc.string(),
  latencyMs: fc.double({ min: 0, max: 60_000, noNaN: true }),
  requestSent: fc.boolean(),
});
const answer = fc.oneof({ weight: 9, arbitrary: httpAnswer }, { weight: 1, arbitrary: failedAnswer });

/** Keys whose values are personal data (src/domain/personal-data.ts); under them only masked values may be kept. */
const PERSONAL_KEYS = new Set(['client_phone_number', 'phone', 'phone_number']);

/** True when some value under a personal key is kept in clear (a masked value has its middle starred out). */
function leaksPersonal(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(leaksPersonal);
  const o = obj(value);
  if (!o) return false;
  return Object.entries(o).some(([k, v]) =>
    PERSONAL_KEYS.has(k) && (typeof v === 'string' || typeof v === 'number') ? String(v).length > 0 && !String(v).includes('*') : leaksPersonal(v),
  );
}

describe('provider classifiers under fuzzing', () => {
  it('fuzzes every provider of the registry, each against its decisive fields', () => {
    expect(classifiers.map(([name]) => name)).toEqual(expect.arrayContaining(['payme', 'uzum', 'anor', 'payme_go', 'freedompay']));
    for (const [name] of classifiers) expect(SUCCESS_WHEN[name], name).toBeDefined();
  });

  it.each(classifiers)('%s never throws and yields exactly one class, success only on the documented fields', (name, classify) => {
    const successWhen = SUCCESS_WHEN[name];
    const seen = new Set<string>();
    fc.assert(
      fc.property(answer, (a) => {
        const outcome = classify(a);
        expect(OUTCOME_CLASSES).toContain(outcome.class);
        expect(Object.keys(outcome)).toContain('class');
        seen.add(outcome.class);
        if (outcome.class === 'success') {
          expect(is2xx(a)).toBe(true);
          if (successWhen) expect(successWhen(a)).toBe(true);
        } else {
          expect(typeof outcome.code).toBe('string');
          expect(typeof outcome.message).toBe('string');
        }
        // What is kept (job data, records, logs, the board) is JSON and carries no personal data in clear.
        expect(() => JSON.stringify(outcome)).not.toThrow();
        expect(leaksPersonal(outcome)).toBe(false);
      }),
      { numRuns: NUM_RUNS },
    );
    // The arbitraries reach both sides of the rules, so the properties above are not vacuous.
    expect(seen.has('success')).toBe(true);
    expect(seen.size).toBeGreaterThanOrEqual(3);
  });

  it('classifyTransport decides every non-2xx and transport failure, and leaves every 2xx to the provider', () => {
    fc.assert(
      fc.property(answer, (a) => {
        const outcome = transport.classifyTransport(a, 'fuzz');
        if (is2xx(a)) expect(outcome).toBeUndefined();
        else expect(['retryable', 'client_error']).toContain(outcome?.class);
        if (a.kind === 'http' && (a.status === 429 || a.status >= 500)) expect(outcome?.class).toBe('retryable');
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
