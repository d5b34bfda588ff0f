import { describe, expect, it } from 'vitest';
import type { AttemptEntry } from '../../src/domain/attempt.js';
import { recordState } from '../../src/domain/record.js';
import { formatMinorUnits, positionSum, roundToMinorUnits, toMinorUnits, toScaled } from '../../src/domain/money.js';
import { receiptTotals } from '../../src/domain/receipt-totals.js';
import { receiptSchema } from '../../src/providers/freedompay-request.js';
import { receiptFingerprint, receiptRecordId } from '../../src/producers/receipts.js';
import {
  FreedomPayClient,
  classifyReceiptCreate,
  classifyReceiptList,
  classifyReceiptRead,
} from '../../src/providers/freedompay.js';
import { verifyFreedomPaySignature } from '../../src/providers/freedompay-jws.js';
import type { ProviderAnswer, ProviderTransport } from '../../src/providers/transport.js';
import {
  FREEDOMPAY_CREATE_REQUEST,
  FREEDOMPAY_CREATE_RESPONSE,
  FREEDOMPAY_GET_RESPONSE,
  FREEDOMPAY_LIST_RESPONSE,
  FREEDOMPAY_RECEIPT_OBJECT,
} from '../fixtures/seed-bodies-003-004.js';
import { httpAnswer } from '../helpers/answers.js';

const http = httpAnswer;
const timeout: ProviderAnswer = { kind: 'timeout', code: 'timeout', message: 'no answer', latencyMs: 300, requestSent: true };
const reset: ProviderAnswer = { kind: 'network', code: 'ECONNRESET', message: 'reset', latencyMs: 3, requestSent: true };
const refused: ProviderAnswer = { kind: 'network', code: 'ECONNREFUSED', message: 'refused', latencyMs: 1, requestSent: false };
const failed = { data: { ...FREEDOMPAY_CREATE_RESPONSE.data, status: 'failed', error: { code: 5001, message: 'Fiscal storage rejected the receipt' } } };
const { merchant_id: _merchant, ...REQUEST } = FREEDOMPAY_CREATE_REQUEST;

describe('Freedom Pay classify, every seed 004 body', () => {
  it('create: the seed answer (pending) is success, the receipt object kept as it came', () => {
    expect(classifyReceiptCreate(http(200, FREEDOMPAY_CREATE_RESPONSE))).toEqual({ class: 'success', data: FREEDOMPAY_CREATE_RESPONSE.data });
  });

  it('read: the seed receipt object (numbers as numbers) and the seed read answer are success', () => {
    expect(classifyReceiptRead(http(200, FREEDOMPAY_RECEIPT_OBJECT))).toEqual({ class: 'success', data: FREEDOMPAY_RECEIPT_OBJECT.data });
    expect(classifyReceiptRead(http(200, FREEDOMPAY_GET_RESPONSE))).toEqual({ class: 'success', data: FREEDOMPAY_GET_RESPONSE.data });
    expect(classifyReceiptRead(http(200, FREEDOMPAY_CREATE_RESPONSE))).toMatchObject({ class: 'success', data: { status: 'pending' } });
  });

  it('list: the seed list is success with every receipt', () => {
    expect(classifyReceiptList(http(200, FREEDOMPAY_LIST_RESPONSE))).toEqual({ class: 'success', data: FREEDOMPAY_LIST_RESPONSE.data });
  });

  it('a failed receipt is rejected with the provider error, on create and on read', () => {
    for (const classify of [classifyReceiptCreate, classifyReceiptRead]) {
      expect(classify(http(200, failed))).toMatchObject({ class: 'rejected', code: '5001', message: 'Fiscal storage rejected the receipt' });
    }
  });

  it('create: after a possible send (timeout, reset, 5xx, 429, undocumented body) the outcome is ambiguous', () => {
    for (const answer of [timeout, reset, http(500, 'x'), http(503, 'x'), http(429, ''), http(200, '<html>'), http(200, { data: {} })]) {
      expect(classifyReceiptCreate(answer).class).toBe('ambiguous');
    }
  });

  it('create: a refused connection never reached the provider and is plainly retryable', () => {
    expect(classifyReceiptCreate(refused)).toMatchObject({ class: 'retryable', code: 'ECONNREFUSED' });
  });

  it('reads and lists are safe to repeat: transport trouble and odd bodies are retryable', () => {
    for (const classify of [classifyReceiptRead, classifyReceiptList]) {
      for (const answer of [timeout, reset, refused, http(502, 'x'), http(429, ''), http(200, 'garbage'), http(200, { data: 'x' })]) {
        expect(classify(answer).class).toBe('retryable');
      }
    }
    expect(classifyReceiptRead(http(200, { data: { ...FREEDOMPAY_GET_RESPONSE.data, status: 'cancelled' } }))).toMatchObject({ class: 'retryable', code: 'undocumented_status' });
  });

  it.each([400, 401, 404, 422])('HTTP %i is a client error naming the provider message', (status) => {
    for (const classify of [classifyReceiptCreate, classifyReceiptRead, classifyReceiptList]) {
      const outcome = classify(http(status, { error: { code: status, message: 'signature does not match' } }));
      expect(outcome).toMatchObject({ class: 'client_error', code: `http_${status}` });
      expect((outcome as { message: string }).message).toContain('signature does not match');
    }
  });
});

describe('FreedomPayClient signs every request (seed 004 X-JWS-Signature)', () => {
  const sent: { method: string; path: string; body: string | undefined; headers: Record<string, string> | undefined }[] = [];
  const transport = {
    send: async (method: string, path: string, body?: string, headers?: Record<string, string>) => {
      sent.push({ method, path, body, headers });
      return http(200, FREEDOMPAY_CREATE_RESPONSE);
    },
  } as unknown as ProviderTransport;
  const client = new FreedomPayClient(transport, 'https://api.freedompay.uz', { merchantId: '542088', secretKey: 'k' });

  it('POST, GET one and GET list verify against the request as sent; merchant_id goes in as the seed writes it', async () => {
    await client.create(REQUEST);
    await client.get('adec9d48-be2a-4bf4-8ca1-3432fd8920c5');
    await client.list({ paymentId: '764239789' });
    for (const s of sent) {
      expect(verifyFreedomPaySignature(s.headers?.['x-jws-signature'], { method: s.method, uri: s.path, body: s.body }, 'k')).toEqual({ ok: true, merchantId: '542088' });
    }
    expect(JSON.parse(sent[0]!.body!)).toEqual(FREEDOMPAY_CREATE_REQUEST);
    expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual([
      'POST /v5/receipts',
      'GET /v5/receipts/adec9d48-be2a-4bf4-8ca1-3432fd8920c5',
      'GET /v5/receipts?payment_id=764239789',
    ]);
  });
});

describe('money in integer minor units', () => {
  it('reads decimals exactly, float traps included', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(toMinorUnits(0.1)! + toMinorUnits(0.2)!).toBe(toMinorUnits(0.3));
    expect(toMinorUnits(50.0)).toBe(5000);
    expect(toMinorUnits(19.99)).toBe(1999);
    expect(toMinorUnits(1.1)).toBe(110);
    expect(toMinorUnits(1e12)).toBe(1e14);
  });

  it('refuses what a sum cannot be', () => {
    for (const value of [1.005, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e-7, 2e12]) expect(toMinorUnits(value)).toBeUndefined();
    expect(toScaled(0.375, 3)).toBe(375);
    expect(toScaled(0.0001, 3)).toBeUndefined();
  });

  it('price × quantity rounds half up to a minor unit, without leaving exact integers', () => {
    expect(positionSum(toMinorUnits(0.1)!, toScaled(3, 3)!)).toBe(30);
    expect(positionSum(toMinorUnits(19.99)!, toScaled(3, 3)!)).toBe(5997); // 19.99 * 3 is 59.97000000000001 in floats
    expect(positionSum(toMinorUnits(3)!, toScaled(0.333, 3)!)).toBe(100); // 0.999 → 1.00
    expect(positionSum(toMinorUnits(0.05)!, toScaled(0.5, 3)!)).toBe(3); // 2.5 minor units → 3
    // 999999999 × 9999999 = 9999998990000001, beyond 2^53 before the division
    expect(positionSum(toMinorUnits(9_999_999.99)!, toScaled(9_999.999, 3)!)).toBe(9_999_998_990_000);
    expect(roundToMinorUnits(200.00000000000003)).toBe(20000);
    expect(formatMinorUnits(20050)).toBe('200.50');
    expect(formatMinorUnits(5)).toBe('0.05');
  });
});

describe('POST /v1/receipts/freedompay body (seed 004 create without merchant_id)', () => {
  it('accepts the seed request, and its totals agree', () => {
    const parsed = receiptSchema.parse(REQUEST);
    expect(parsed).toEqual(REQUEST);
    expect(receiptTotals(parsed)).toEqual({ positions: 20000, settlements: 20000, positionSumMismatches: [] });
  });

  it('refuses totals that do not add up, naming both', () => {
    const parsed = receiptSchema.safeParse({ ...REQUEST, settlements: [{ type: 'cashless', sum: 199.99 }] });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues).toEqual([
      expect.objectContaining({ path: ['settlements'], message: 'positions add up to 200.00 (price × quantity) but settlements to 199.99; they must be equal' }),
    ]);
  });

  it('adds 0.1 + 0.2 and 0.1 × 3 exactly', () => {
    const body = {
      ...REQUEST,
      positions: [
        { name: 'a', price: 0.1, quantity: 1 },
        { name: 'b', price: 0.2, quantity: 1 },
        { name: 'c', price: 0.1, quantity: 3 },
      ],
      settlements: [{ type: 'cashless', sum: 0.6 }],
    };
    expect(receiptSchema.safeParse(body).success).toBe(true);
  });

  it('checks a position sum when one is sent', () => {
    const parsed = receiptSchema.safeParse({ ...REQUEST, positions: [{ ...REQUEST.positions[0]!, sum: 10 }, REQUEST.positions[1]!] });
    expect(parsed.error!.issues[0]).toMatchObject({ path: ['positions', 0, 'sum'], message: 'positions[0].sum must be price × quantity = 100.00' });
  });

  it.each([
    [{ merchant_id: 542088 }, 'merchant_id'],
    [{ payment_id: '' }, 'payment_id'],
    [{ payment_id: 1.5 }, 'payment_id'],
    [{ operation_type: 'Sell Refund' }, 'operation_type'],
    [{ customer: { email: 'nope' } }, 'customer.email'],
    [{ customer: { mail: 'a@b.c' } }, 'customer'],
    [{ company: { inn: '12' } }, 'company.inn'],
    [{ positions: [] }, 'positions'],
    [{ positions: [{ name: 'x', price: 1.001, quantity: 1 }] }, 'positions.0.price'],
    [{ positions: [{ name: 'x', price: 1, quantity: 0 }] }, 'positions.0.quantity'],
    [{ positions: [{ name: 'x', price: 1, quantity: 1, vat_code: 20 }] }, 'positions.0.vat_code'],
    [{ positions: [{ name: 'x', price: 1, quantity: 1, mark_quantity: { numerator: 0.5 } }] }, 'positions.0.mark_quantity.numerator'],
    [{ positions: [{ name: 'x', price: 1, quantity: 1, supplier: { inn: 7 } }] }, 'positions.0.supplier.inn'],
    [{ settlements: [{ type: 'cashless' }] }, 'settlements.0.sum'],
    [{ receipt_operating_details: { operation_id: 'x' } }, 'receipt_operating_details.operation_id'],
    [{ receipt_industry_details: [{ federal_id: 1 }] }, 'receipt_industry_details.0.federal_id'],
    [{ positions: [{ name: 'x', price: 1e12, quantity: 1e6 }], settlements: [{ type: 'cashless', sum: 1e12 }] }, 'positions'],
    [{ surprise: true }, ''],
  ])('refuses %j at %s', (change, field) => {
    const parsed = receiptSchema.safeParse({ ...REQUEST, ...change });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toContain(field);
  });

  it('one record per payment_id + operation_type; an integer payment_id is the same sale as its string', () => {
    expect(receiptRecordId({ payment_id: 764239789, operation_type: 'sell' })).toBe('freedompay.sell-764239789');
    expect(receiptRecordId({ payment_id: 'order:1', operation_type: 'sell_refund' })).toMatch(/^freedompay\.~/);
    const parsed = receiptSchema.parse(REQUEST);
    expect(receiptFingerprint(parsed)).toBe(receiptFingerprint({ ...parsed, payment_id: '764239789' }));
    const { settlements, ...rest } = REQUEST;
    expect(receiptFingerprint(parsed)).toBe(receiptFingerprint(receiptSchema.parse({ settlements, ...rest }))); // key order does not matter
    expect(receiptFingerprint(parsed)).not.toBe(receiptFingerprint({ ...parsed, receipt_format: 'ru_1_2' }));
  });
});

describe('a receipt waiting for its next read', () => {
  const entry = (over: Partial<AttemptEntry>): AttemptEntry => ({ at: '2024-01-01T00:00:00.000Z', http_status: 200, class: 'success', latency_ms: 3, ...over });

  it('is queued, not retrying: the last call succeeded (pending); a failed call before a retry still reads retrying', () => {
    expect(recordState('delayed', [entry({ uncounted: true })])).toBe('queued');
    expect(recordState('delayed', [entry({ uncounted: true }), entry({ class: 'retryable', http_status: 503 })])).toBe('retrying');
    expect(recordState('delayed', [entry({ class: 'ambiguous', http_status: 'timeout' })])).toBe('retrying');
    expect(recordState('delayed', [])).toBe('queued');
  });
});
