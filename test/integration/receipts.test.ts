import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';

// Freedom Pay receipts (seed 004) over real HTTP against the sandbox, which checks every request's JWS signature.

const MERCHANT = '542088';
const SECRET = 'test-secret';

/** Seed 004's create request without merchant_id (it comes from configuration). */
function receipt(payment_id: string | number = `pay-${uid()}`, overrides: Record<string, unknown> = {}) {
  return {
    receipt_format: 'ru_1_05',
    payment_id,
    operation_type: 'sell',
    customer: { email: 'customer@mail.ru' },
    positions: [
      { price: 50.0, name: 'Товар №1', quantity: 2.0, vat_code: 'vat_20', payment_method: 'full_payment', payment_object: 'goods' },
      { price: 100.0, name: 'Товра №2', quantity: 1.0, vat_code: 'vat_20', payment_method: 'full_payment', payment_object: 'goods' },
    ],
    settlements: [{ type: 'cashless', sum: 200.0 }],
    ...overrides,
  };
}

describe('Freedom Pay receipts against the sandbox', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      env: { FREEDOMPAY_MERCHANT_ID: MERCHANT, FREEDOMPAY_SECRET_KEY: SECRET, PROVIDER_TIMEOUT_MS: '300', RETRY_ATTEMPTS: '5', CIRCUIT_THRESHOLD: '50' },
      sandbox: { freedompay: { merchantId: MERCHANT, secretKey: SECRET } },
    });
  });
  afterAll(() => h?.close());

  const calls = (endpoint: 'freedompay_create' | 'freedompay_get' | 'freedompay_list', key: string) => h.sandbox.calls(endpoint).filter((c) => c.key === key);

  it('creates a signed receipt, follows it pending → registered and keeps the provider receipt as the result', async () => {
    const pid = `pay-${uid()}`;
    const res = await h.post('/v1/receipts/freedompay', receipt(pid));
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: `freedompay.sell-${pid}`, provider: 'freedompay', payment_id: pid, operation_type: 'sell' });
    const record = await h.waitForState(res.body.id, 'succeeded');
    const [stored] = h.sandbox.receipts(pid);
    expect(h.sandbox.receipts(pid)).toHaveLength(1);
    expect(record.result).toEqual(stored);
    expect(record.result).toMatchObject({ status: 'registered', payment_id: pid, total: 200, link: expect.stringContaining('fn='), fiscal_document_number: expect.stringMatching(/^\d+$/) });
    expect(calls('freedompay_create', pid)).toHaveLength(1);
    expect(calls('freedompay_create', pid)[0]!.body).toMatchObject({ merchant_id: 542088, payment_id: pid, settlements: [{ type: 'cashless', sum: 200 }] });
    expect(calls('freedompay_get', pid).map((c) => c.answered)).toEqual(['200', '200']);
    expect(calls('freedompay_list', '*')).toHaveLength(0); // a clean first create never looks up
    // The create and the pending read are steps of the history; the registered read ends it.
    expect(record.history.map((e) => [e.class, e.http_status, Boolean(e.terminal)])).toEqual([
      ['success', 200, false],
      ['success', 200, false],
      ['success', 200, true],
    ]);
  });

  it('polls a long-pending receipt without spending RETRY_ATTEMPTS (5 here)', async () => {
    const pid = `pending7_${uid()}`;
    const { body } = await h.post('/v1/receipts/freedompay', receipt(pid));
    const record = await h.waitForState(body.id, 'succeeded');
    expect(calls('freedompay_get', pid)).toHaveLength(8);
    expect(record.result).toMatchObject({ status: 'registered' });
  });

  it('a receipt that ends failed is dead with the provider error; a replay makes a new one', async () => {
    const pid = `failx1_${uid()}`;
    const { body } = await h.post('/v1/receipts/freedompay', receipt(pid));
    const dead = await h.waitForState(body.id, 'dead');
    expect(dead.error).toMatchObject({ kind: 'rejected', code: '5001', message: expect.stringMatching(/Fiscal storage rejected the receipt/) });

    const replay = (id: string, force = false) => h.app.deadLetters.replay({ ids: [id], force, actor: { via: 'api', name: 'test' } });
    expect(await replay(body.id)).toEqual({ replayed: 1, skipped: [] });
    const record = await h.waitForState(body.id, 'succeeded');
    expect(h.sandbox.receipts(pid).map((r) => r.status)).toEqual(['failed', 'registered']);
    expect((record.result as { receipt_id: string }).receipt_id).toBe(h.sandbox.receipts(pid)[1]!.receipt_id);
  });

  it('a create that times out after reaching the provider leaves exactly one receipt: looked up, then adopted', async () => {
    const pid = `hangx1_${uid()}`;
    const { body } = await h.post('/v1/receipts/freedompay', receipt(pid));
    const record = await h.waitForState(body.id, 'succeeded');
    expect(h.sandbox.receipts(pid)).toHaveLength(1);
    expect(calls('freedompay_create', pid)).toHaveLength(1);
    expect(h.sandbox.calls('freedompay_list').filter((c) => (c.body as { payment_id?: string }).payment_id === pid)).toHaveLength(1);
    expect(record.history[0]).toMatchObject({ class: 'ambiguous', http_status: 'timeout' });
    expect((record.result as { receipt_id: string }).receipt_id).toBe(h.sandbox.receipts(pid)[0]!.receipt_id);
  });

  it('a create answered 503 made nothing: the look-up finds none and the retry creates the one receipt', async () => {
    const pid = `s503x1_${uid()}`;
    const { body } = await h.post('/v1/receipts/freedompay', receipt(pid));
    await h.waitForState(body.id, 'succeeded');
    expect(calls('freedompay_create', pid).map((c) => c.answered)).toEqual(['503', '200']);
    expect(h.sandbox.receipts(pid)).toHaveLength(1);
  });

  it('400 naming both totals when positions and settlements do not add up; float traps add up exactly', async () => {
    const res = await h.post('/v1/receipts/freedompay', receipt(undefined, { settlements: [{ type: 'cashless', sum: 150 }] }));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/positions add up to 200\.00 .* settlements to 150\.00/);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'settlements' })]);

    const floats = receipt(undefined, {
      positions: [
        { name: 'a', price: 0.1, quantity: 1 },
        { name: 'b', price: 0.2, quantity: 1 },
        { name: 'c', price: 0.1, quantity: 3 },
      ],
      settlements: [{ type: 'cashless', sum: 0.3 }, { type: 'prepayment', sum: 0.3 }],
    });
    expect((await h.post('/v1/receipts/freedompay', floats)).status).toBe(202);
  });

  it('validates nested fields and refuses merchant_id', async () => {
    const bad = receipt(undefined, {
      merchant_id: 542088,
      customer: { email: 'not-an-email' },
      positions: [{ name: 'x', price: 1.005, quantity: 1, vat_code: 'VAT 20' }],
    });
    const res = await h.post('/v1/receipts/freedompay', bad);
    expect(res.status).toBe(400);
    const fields = res.body.error.details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['merchant_id', 'customer.email', 'positions.0.price', 'positions.0.vat_code']));
    expect(res.body.error.message).toMatch(/FREEDOMPAY_MERCHANT_ID/);
  });

  it('one sale, one record: the same body again is 200 (an integer payment_id matches its string), another body 409', async () => {
    const pid = randomInt(1e9, 2e9);
    const first = await h.post('/v1/receipts/freedompay', receipt(pid));
    expect(first.status).toBe(202);
    await h.waitForState(first.body.id, 'succeeded');
    expect(calls('freedompay_create', String(pid))[0]!.body).toMatchObject({ payment_id: pid }); // sent as given

    const again = await h.post('/v1/receipts/freedompay', receipt(String(pid)));
    expect([again.status, again.body.id, again.body.state]).toEqual([200, first.body.id, 'succeeded']);
    const other = await h.post('/v1/receipts/freedompay', receipt(pid, { settlements: [{ type: 'cash', sum: 200 }] }));
    expect(other.status).toBe(409);
    expect(other.body.error.details).toEqual({ id: first.body.id });
    const refund = await h.post('/v1/receipts/freedompay', receipt(pid, { operation_type: 'sell_refund' }));
    expect(refund.status).toBe(202);
    expect(refund.body.id).toBe(`freedompay.sell_refund-${pid}`);
    expect((await h.get(`/v1/receipts/${first.body.id}`)).body.state).toBe('succeeded');
    expect((await h.get('/v1/receipts/freedompay.sell-none')).status).toBe(404);
  });
});

describe('OpenAPI', () => {
  it('describes the payment and receipt routes from the zod schemas that validate them', async () => {
    const h = await startHarness({ mode: 'api' });
    try {
      const { body } = await h.get('/openapi.json');
      const schemaOf = (path: string) => body.paths[path].post.requestBody.content['application/json'].schema;
      expect(schemaOf('/v1/payments/payme')).toMatchObject({ required: ['amount', 'qr_code'], properties: { amount: { type: 'integer' } } });
      expect(body.paths['/v1/payments/payme'].post.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'Idempotency-Key', required: true })]));
      expect(schemaOf('/v1/receipts/freedompay')).toMatchObject({ required: expect.arrayContaining(['payment_id', 'operation_type', 'positions', 'settlements']) });
      expect(body.paths['/v1/receipts/{id}'].get.operationId).toBe('getReceipt');
      expect(body.paths['/v1/payments/{id}'].get.operationId).toBe('getPayment');
    } finally {
      await h.close();
    }
  });
});

describe('Freedom Pay without configuration', () => {
  it('answers 503 not_configured and stores nothing; its worker starts harmlessly', async () => {
    const h = await startHarness();
    try {
      const res = await h.post('/v1/receipts/freedompay', receipt());
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'not_configured', message: expect.stringMatching(/FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY/) });
      expect(await h.app.queues.get('freedompay').count()).toBe(0);
      expect(h.app.workers?.isRunning()).toBe(true);
    } finally {
      await h.close();
    }
  });
});
