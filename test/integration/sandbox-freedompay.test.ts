import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { signFreedomPayRequest } from '../../src/providers/freedompay-jws.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';

// Real HTTP over loopback against the Freedom Pay side of the sandbox (seed 004), signed as the product signs.

const MERCHANT = '542088';
const SECRET = 'sandbox-secret';
const TIME = /^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}$/;

let sandbox: Sandbox;
const agent = new Agent({ keepAliveTimeout: 10_000 });

/** Seed 004's create request, without merchant_id (the token carries it). */
function createBody(payment_id: string | number = 764239789) {
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
  };
}

async function call(method: 'GET' | 'POST', path: string, body?: unknown, opts: { base?: string; sign?: 'ok' | 'none' | string } = {}) {
  const raw = body === undefined ? undefined : JSON.stringify(body);
  const uri = path.split('?')[0] ?? path;
  const sign = opts.sign ?? 'ok';
  const signature = sign === 'ok' ? signFreedomPayRequest({ method, uri, merchantId: MERCHANT, secretKey: SECRET, body: raw }) : sign;
  const res = await request((opts.base ?? sandbox.url) + path, {
    method,
    dispatcher: agent,
    body: raw,
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(sign === 'none' ? {} : { 'x-jws-signature': signature }) },
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) as any };
}

const create = (body: unknown = createBody(), opts?: Parameters<typeof call>[3]) => call('POST', '/v5/receipts', body, opts);
const read = (id: string) => call('GET', `/v5/receipts/${id}`);
const list = (query = '') => call('GET', `/v5/receipts${query}`);

beforeAll(async () => {
  sandbox = await startSandbox({ freedompay: { merchantId: MERCHANT, secretKey: SECRET } });
});
afterAll(async () => {
  await sandbox.close();
  await agent.close();
});
beforeEach(() => sandbox.reset());

describe('sandbox: Freedom Pay receipts (seed 004)', () => {
  it('creates a pending receipt shaped like the seed, payment_id echoed as a string', async () => {
    const res = await create();
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      data: {
        merchant_id: MERCHANT,
        receipt_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        operation_type: 'sell',
        receipt_format: 'ru_1_05',
        status: 'pending',
        fiscal_document_number: '',
        fiscal_storage_number: null,
        fiscal_attribute: '',
        registered_at: null,
        created_at: expect.stringMatching(TIME),
        fiscal_provider_id: null,
        positions: [
          { name: 'Товар №1', quantity: 2, price: 50, measure: 'piece', vat_code: 'vat_20', payment_method: 'full_payment', payment_object: 'goods', sum: 100 },
          { name: 'Товра №2', quantity: 1, price: 100, measure: 'piece', vat_code: 'vat_20', payment_method: 'full_payment', payment_object: 'goods', sum: 100 },
        ],
        total: 200,
        settlements: [{ type: 'cashless', sum: 200 }],
        company: { inn: '5544332219', email: 'customer@mail.ru', tax_system: 'osn', payment_address: 'shop.ru' },
        receipt_method: 'separately',
        error: null,
        link: null,
        payment_id: '764239789',
      },
    });
    expect(sandbox.receipts('764239789')).toEqual([res.json.data]);
  });

  it('moves a receipt from pending to registered after pendingReads GETs (default 1)', async () => {
    const { receipt_id } = (await create()).json.data;
    expect((await read(receipt_id)).json.data.status).toBe('pending');
    const registered = (await read(receipt_id)).json.data;
    expect(registered).toMatchObject({
      receipt_id,
      status: 'registered',
      fiscal_document_number: expect.stringMatching(/^\d+$/),
      fiscal_storage_number: expect.stringMatching(/^\d{16}$/),
      fiscal_attribute: expect.stringMatching(/^\d+$/),
      registered_at: expect.stringMatching(TIME),
      fiscal_provider_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      link: expect.stringContaining(`i=${registered.fiscal_document_number}`),
      error: null,
    });
    expect((await read(receipt_id)).json.data).toEqual(registered);
  });

  it('pending<n> holds a receipt pending for n reads; fail ends it failed with an error', async () => {
    const slow = (await create(createBody('pending3_pay-1'))).json.data.receipt_id;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await read(slow)).json.data.status);
    expect(statuses).toEqual(['pending', 'pending', 'pending', 'registered']);

    const failing = (await create(createBody('fail_pay-2'))).json.data;
    expect(failing.status).toBe('pending');
    await read(failing.receipt_id);
    expect((await read(failing.receipt_id)).json.data).toMatchObject({ status: 'failed', error: { code: expect.any(Number), message: expect.any(String) }, link: null });
  });

  it('makes a second receipt for a second create of the same payment_id', async () => {
    await create(createBody('dup'));
    await create(createBody('dup'));
    expect(sandbox.receipts('dup')).toHaveLength(2);
    expect(sandbox.calls('freedompay_create').map((c) => c.key)).toEqual(['dup', 'dup']);
  });

  it('answers 404 JSON for an unknown receipt and 400 naming the bad field', async () => {
    const missing = await read('00000000-0000-0000-0000-000000000000');
    expect([missing.status, missing.json.error.code]).toEqual([404, 404]);
    const bad = createBody();
    (bad.positions[0] as { price: unknown }).price = '50';
    const invalid = await create(bad);
    expect(invalid.status).toBe(400);
    expect(invalid.json.error.message).toContain('positions[0].price');
    expect(sandbox.receipts()).toEqual([]);
  });

  it('lists newest first with payment_id, created_at and offset/limit filters', async () => {
    // Seeded out of order on purpose: the list sorts by creation time, not by insertion.
    sandbox.seedReceipt({ payment_id: 'old', total: 200, created_at: '31.03.2023 10:00:00' });
    sandbox.seedReceipt({ payment_id: 'old', total: 450, created_at: '30.03.2023 15:12:37' });
    const fresh = (await create(createBody('new'))).json.data;

    const all = (await list()).json.data;
    expect(all.map((r: { payment_id: string }) => r.payment_id)).toEqual(['new', 'old', 'old']);
    expect((await list('?payment_id=old')).json.data.map((r: { total: number }) => r.total)).toEqual([200, 450]);
    expect((await list('?created_at[gte]=2023-03-01&created_at[lte]=2023-03-30')).json.data.map((r: { total: number }) => r.total)).toEqual([450]);
    expect((await list('?created_at%5Bgte%5D=2023-03-31&created_at%5Blte%5D=2023-03-31')).json.data).toHaveLength(1);
    const today = new Date().toISOString().slice(0, 10);
    expect((await list(`?created_at[gte]=${today}`)).json.data).toEqual([fresh]);
    expect((await list('?offset=1&limit=1')).json.data.map((r: { total: number }) => r.total)).toEqual([200]);
    expect((await list('?created_at[gte]=31.03.2023')).status).toBe(400);
  });

  it('seeds registered receipts that exist only at the provider', async () => {
    const seeded = sandbox.seedReceipt({ payment_id: 'orphan', total: 300 });
    expect(seeded).toMatchObject({ payment_id: 'orphan', total: 300, status: 'registered', fiscal_storage_number: expect.any(String), settlements: [{ type: 'cashless', sum: 300 }] });
    expect((await read(seeded.receipt_id)).json.data).toEqual(seeded);
  });

  it('faults a create by its payment_id and a read by its receipt payment_id', async () => {
    expect((await create(createBody('s503x1_p'))).status).toBe(503);
    expect(sandbox.receipts()).toHaveLength(0);
    const { receipt_id } = (await create(createBody('s503x1_p'))).json.data;
    expect((await read(receipt_id)).status).toBe(503);
    expect((await read(receipt_id)).json.data.status).toBe('pending');
    expect(sandbox.calls('freedompay_get').map((c) => [c.key, c.answered])).toEqual([
      ['s503x1_p', '503'],
      ['s503x1_p', '200'],
    ]);
  });

  it('faults the list through the "*" key', async () => {
    sandbox.program('*', 's502x1');
    expect((await list()).status).toBe(502);
    expect((await list('?payment_id=x')).status).toBe(200);
    expect(sandbox.calls('freedompay_list').map((c) => c.body)).toEqual([{}, { payment_id: 'x' }]);
  });
});

describe('sandbox: Freedom Pay signature', () => {
  it('rejects a missing, wrong or foreign signature with 401, and records the call', async () => {
    const body = createBody('sig');
    expect((await create(body, { sign: 'none' })).status).toBe(401);
    const forOtherBody = signFreedomPayRequest({ method: 'POST', uri: '/v5/receipts', merchantId: MERCHANT, secretKey: SECRET, body: '{}' });
    expect((await create(body, { sign: forOtherBody })).json.error.message).toBe('signature does not match');
    const wrongKey = signFreedomPayRequest({ method: 'POST', uri: '/v5/receipts', merchantId: MERCHANT, secretKey: 'nope', body: JSON.stringify(body) });
    expect((await create(body, { sign: wrongKey })).status).toBe(401);
    const otherMerchant = signFreedomPayRequest({ method: 'POST', uri: '/v5/receipts', merchantId: '1', secretKey: SECRET, body: JSON.stringify(body) });
    expect((await create(body, { sign: otherMerchant })).status).toBe(401);
    const getSignedForList = signFreedomPayRequest({ method: 'GET', uri: '/v5/receipts', merchantId: MERCHANT, secretKey: SECRET });
    expect((await call('GET', '/v5/receipts/x', undefined, { sign: getSignedForList })).status).toBe(401);

    expect(sandbox.calls('freedompay_create').map((c) => c.answered)).toEqual(['401', '401', '401', '401']);
    expect(sandbox.receipts()).toEqual([]);
    expect((await create(body)).status).toBe(200);
  });

  it('takes the merchant from an unverified token when no key is configured', async () => {
    const open = await startSandbox();
    try {
      const res = await create(createBody(1), { base: open.url, sign: signFreedomPayRequest({ method: 'POST', uri: '/v5/receipts', merchantId: 777, secretKey: 'any', body: '' }) });
      expect(res.json.data).toMatchObject({ merchant_id: '777', payment_id: '1' });
      expect((await create(createBody(2), { base: open.url, sign: 'none' })).json.data.merchant_id).toBe(MERCHANT);
    } finally {
      await open.close();
    }
  });
});
