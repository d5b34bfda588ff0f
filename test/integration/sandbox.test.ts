import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';

// Real HTTP over loopback against the FiscalBox side of the sandbox (seeds 000–003), its faults and its controls.

const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';
const OTHER_QR = QR.replace('s=514343190161', 's=999999999999');
const PHONE = '998712565009';

let sandbox: Sandbox;
const agent = new Agent({ keepAliveTimeout: 10_000 });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

async function send(method: string, path: string, body?: unknown, opts: { headers?: Record<string, string>; signal?: AbortSignal; base?: string } = {}): Promise<Answer> {
  const raw = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const res = await request((opts.base ?? sandbox.url) + path, {
    method: method as 'GET' | 'POST',
    dispatcher: agent,
    body: raw,
    headers: { 'content-type': 'application/json', ...opts.headers },
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

const post = (path: string, body: unknown, opts?: Parameters<typeof send>[3]) => send('POST', path, body, opts);

/** undici reports an RST as ECONNRESET or as "other side closed" (UND_ERR_SOCKET), depending on timing. */
async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    // DOMException (abort/timeout) has a numeric code; its name is what tells.
    if (err instanceof DOMException) return err.name;
    const e = err as { code?: string; cause?: { code?: string } };
    return e.code ?? e.cause?.code ?? String(err);
  }
  throw new Error('expected the request to fail');
}

beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
  await agent.close();
});
beforeEach(() => sandbox.reset());

describe('sandbox: FiscalBox success shapes (seeds 000–003)', () => {
  it('payme_confirm answers the seed 000 shape with an incrementing data.id', async () => {
    const before = Date.now();
    const a = await post('/payment/payme_confirm', { payment_id: '696e0246c9a128176d5934d8', qr_code: QR });
    const b = await post('/payment/payme_confirm', { payment_id: '696e0246c9a128176d5934d9', qr_code: QR });
    expect(a.status).toBe(200);
    expect(a.json).toEqual({
      data: { id: expect.any(Number), result: { receipt: { _id: '696e0246c9a128176d5934d8', create_time: expect.any(Number), pay_time: expect.any(Number) } }, error: null },
      error: null,
      is_success: true,
    });
    expect(Number.isInteger(a.json.data.id)).toBe(true);
    expect(b.json.data.id).toBe(a.json.data.id + 1);
    expect(a.json.data.result.receipt.create_time).toBeGreaterThanOrEqual(before);
  });

  it('uzum_confirm answers SUCCESS with error_code "0" as a string (seed 001)', async () => {
    const id = 'bb75f609-6d97-4b45-9ed3-80e5fcd19ef1';
    const res = await post('/payment/uzum_confirm', { payment_id: id, qr_code: QR });
    expect(res.json).toEqual({
      data: { payment_id: id, payment_status: 'SUCCESS', error_code: '0', error_message: null, client_phone_number: PHONE },
      error: null,
      is_success: true,
    });
  });

  it('anor_confirm answers error_code 0 and an integer payment_id (seed 002)', async () => {
    const id = 'a12fc00f-5af5-65b8-adf8-74bff44680ee';
    const res = await post('/payment/anor_confirm', { transaction_id: id, qr_code: QR });
    expect(res.json).toEqual({
      data: { message: 'Fiscalization completed successfully', error_code: 0, payment_id: expect.any(Number), transaction_id: id },
      error: null,
      is_success: true,
    });
    expect(Number.isInteger(res.json.data.payment_id)).toBe(true);
  });

  it('click_confirm answers as FiscalBox\'s Click page shows: status successfully, every other field null', async () => {
    const res = await post('/payment/click_confirm', { payment_id: '4710103925', qr_code: QR });
    expect(res.json).toEqual({ data: { inn: null, payment_id: null, qr_code: null, status: 'successfully', error: null }, error: null, is_success: true });
  });

  it('Payme Go charges anew every time, with fresh ids (seed 003)', async () => {
    const a = await post('/payment/payme', { amount: 1000, qr_code: '50502044301381396427' });
    const b = await post('/payment/payme', { amount: 1000, qr_code: '50502044301381396427' });
    expect(a.json).toEqual({
      data: {
        amount: 1000,
        transaction_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
        payment_id: expect.stringMatching(/^[0-9a-f]{24}$/),
        inn: '123456789',
        qr_code: '50502044301381396427',
        kkm_id: '00000011',
        device_id: '00000011',
        status: 'successfully',
        message: 'successfully payment',
        client_phone_number: PHONE,
      },
      error: null,
      is_success: true,
    });
    expect(b.json.data.transaction_id).not.toBe(a.json.data.transaction_id);
    expect(b.json.data.payment_id).not.toBe(a.json.data.payment_id);
  });
});

describe('sandbox: FiscalBox validation and repeats', () => {
  it.each([
    ['/payment/payme_confirm', { payment_id: 'p1' }, 'qr_code'],
    ['/payment/uzum_confirm', { payment_id: 7, qr_code: QR }, 'payment_id'],
    ['/payment/anor_confirm', { payment_id: 'p1', qr_code: QR }, 'transaction_id'],
    ['/payment/click_confirm', { qr_code: QR }, 'payment_id'],
    ['/payment/payme', { amount: '1000', qr_code: '5050' }, 'amount'],
    ['/payment/payme_confirm', 'not json', 'JSON'],
  ])('%s answers HTTP 200 with error -32602 naming the field (%j)', async (path, body, field) => {
    const res = await post(path, body);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ data: null, error: { code: -32602, message: expect.stringContaining(field), data: null }, is_success: false });
  });

  it('answers a repeat with the same QR with the same data, and refuses another QR', async () => {
    const first = await post('/payment/uzum_confirm', { payment_id: 'u-1', qr_code: QR });
    const again = await post('/payment/uzum_confirm', { payment_id: 'u-1', qr_code: QR });
    const other = await post('/payment/uzum_confirm', { payment_id: 'u-1', qr_code: OTHER_QR });
    expect(again.json).toEqual(first.json);
    expect(other.status).toBe(200);
    expect(other.json).toEqual({ data: null, error: { code: 409, message: 'payment already fiscalized with another receipt', data: null }, is_success: false });
  });

  it('keeps confirmations per endpoint', async () => {
    await post('/payment/payme_confirm', { payment_id: 'same', qr_code: QR });
    expect((await post('/payment/uzum_confirm', { payment_id: 'same', qr_code: OTHER_QR })).json.is_success).toBe(true);
  });
});

describe('sandbox: fault directives', () => {
  it('s503x2 answers 503 twice, then succeeds; every call is recorded', async () => {
    const body = { payment_id: 's503x2_abc123', qr_code: QR };
    expect((await post('/payment/payme_confirm', body)).status).toBe(503);
    expect((await post('/payment/payme_confirm', body)).status).toBe(503);
    const ok = await post('/payment/payme_confirm', body);
    expect(ok.status).toBe(200);
    expect(ok.json.data.result.receipt._id).toBe('s503x2_abc123');
    expect(sandbox.calls('payme_confirm').map((c) => [c.key, c.answered])).toEqual([
      ['s503x2_abc123', '503'],
      ['s503x2_abc123', '503'],
      ['s503x2_abc123', '200'],
    ]);
  });

  it('s429 carries Retry-After: 1 s by default, ra<n> overrides', async () => {
    const plain = await post('/payment/uzum_confirm', { payment_id: 's429_u', qr_code: QR });
    const ra = await post('/payment/uzum_confirm', { payment_id: 's429x1_ra2_u', qr_code: QR });
    expect([plain.status, plain.headers['retry-after']]).toEqual([429, '1']);
    expect([ra.status, ra.headers['retry-after']]).toEqual([429, '2']);
    expect((await post('/payment/uzum_confirm', { payment_id: 's429x1_ra2_u', qr_code: QR })).status).toBe(200);
  });

  it('garbage answers 200 with a non-JSON body after applying the side effect', async () => {
    const res = await post('/payment/anor_confirm', { transaction_id: 'garbagex1_t', qr_code: QR });
    expect([res.status, res.text, res.json]).toEqual([200, '<html>502 Bad Gateway</html>', undefined]);
    // The confirmation happened: another QR is now refused.
    expect((await post('/payment/anor_confirm', { transaction_id: 'garbagex1_t', qr_code: OTHER_QR })).json.error.code).toBe(409);
  });

  it('reset destroys the socket after applying the side effect', async () => {
    const code = await errorCode(post('/payment/payme_confirm', { payment_id: 'resetx1_p', qr_code: QR }));
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(code);
    expect(sandbox.calls('payme_confirm')[0]?.answered).toBe('reset');
    expect((await post('/payment/payme_confirm', { payment_id: 'resetx1_p', qr_code: OTHER_QR })).json.error.code).toBe(409);
  });

  it('slow answers after the delay', async () => {
    const started = performance.now();
    const res = await post('/payment/uzum_confirm', { payment_id: 'slow150_u', qr_code: QR });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(res.json.data.payment_status).toBe('SUCCESS');
  });

  it('hang never answers', async () => {
    const code = await errorCode(post('/payment/payme_confirm', { payment_id: 'hang_p', qr_code: QR }, { signal: AbortSignal.timeout(100) }));
    expect(code).toBe('TimeoutError');
    expect(sandbox.calls()[0]?.answered).toBe('hang');
  });

  it('reject answers is_success false with -31001 and has no side effect', async () => {
    const res = await post('/payment/payme_confirm', { payment_id: 'rejectx1_p', qr_code: QR });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ data: null, error: { code: -31001, message: expect.any(String), data: null }, is_success: false });
    expect((await post('/payment/payme_confirm', { payment_id: 'rejectx1_p', qr_code: OTHER_QR })).json.is_success).toBe(true);
  });

  it('fail is a data-level failure with is_success true, per endpoint', async () => {
    const payme = await post('/payment/payme_confirm', { payment_id: 'fail_p', qr_code: QR });
    expect(payme.json).toEqual({ data: { id: expect.any(Number), error: 'Payment not found' }, error: null, is_success: true });

    const uzum = await post('/payment/uzum_confirm', { payment_id: 'fail_u', qr_code: QR });
    expect(uzum.json.data).toMatchObject({ payment_status: 'FAILED', error_code: '-31050', error_message: expect.any(String) });

    const anor = await post('/payment/anor_confirm', { transaction_id: 'fail_t', qr_code: QR });
    expect(anor.json.data).toMatchObject({ error_code: 1, message: expect.any(String), transaction_id: 'fail_t' });

    const click = await post('/payment/click_confirm', { payment_id: 'fail_c', qr_code: QR });
    expect(click.json).toMatchObject({ data: { status: 'error', error: expect.any(String) }, error: null, is_success: true });

    sandbox.program('50502044301381396427', 'fail');
    const go = await post('/payment/payme', { amount: 500, qr_code: '50502044301381396427' });
    expect(go.json).toMatchObject({ data: { status: 'failed', message: expect.any(String) }, error: null, is_success: true });
  });

  it('chains faults with growing counts: 503, then reset after the work, then the same answer again', async () => {
    const body = { payment_id: 's503x1_resetx2_p', qr_code: QR };
    expect((await post('/payment/payme_confirm', body)).status).toBe(503);
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(await errorCode(post('/payment/payme_confirm', body)));
    const third = await post('/payment/payme_confirm', body);
    expect(third.json.data.id).toBe(1); // the reset call confirmed it; the repeat answers that confirmation
    expect(sandbox.calls().map((c) => c.answered)).toEqual(['503', 'reset', '200']);
  });

  it('program() gives directives to a key that cannot carry them, counting from then', async () => {
    const body = { amount: 1000, qr_code: '50502044301381396427' };
    expect((await post('/payment/payme', body)).status).toBe(200);
    sandbox.program(body.qr_code, 's500x1');
    expect((await post('/payment/payme', body)).status).toBe(500);
    expect((await post('/payment/payme', body)).status).toBe(200);
    expect(sandbox.calls('payme_go')).toHaveLength(3);
  });
});

describe('sandbox: auth, routes and control', () => {
  it('requires the FiscalBox bearer token when configured', async () => {
    const secured = await startSandbox({ fiscalboxToken: 'fb-token' });
    try {
      const body = { payment_id: 'p', qr_code: QR };
      expect((await post('/payment/payme_confirm', body, { base: secured.url })).status).toBe(401);
      expect((await post('/payment/payme_confirm', body, { base: secured.url, headers: { authorization: 'Bearer nope' } })).status).toBe(401);
      expect((await post('/payment/payme_confirm', body, { base: secured.url, headers: { authorization: 'Bearer fb-token' } })).json.is_success).toBe(true);
      expect(secured.calls().map((c) => c.answered)).toEqual(['401', '401', '200']);
    } finally {
      await secured.close();
    }
  });

  it('answers unknown paths with 404 JSON and wrong methods with 405', async () => {
    const missing = await send('GET', '/payment/nope');
    expect(missing.status).toBe(404);
    expect(missing.json.error.message).toContain('/payment/nope');
    expect((await send('GET', '/payment/payme_confirm')).status).toBe(405);
  });

  it('can be inspected, programmed and reset over HTTP', async () => {
    expect((await post('/__sandbox/program', { key: '5050', directives: 's502x1' })).json).toEqual({ ok: true });
    expect((await post('/__sandbox/program', { key: '5050', directives: 'bogus' })).status).toBe(400);
    expect((await post('/payment/payme', { amount: 1, qr_code: '5050' })).status).toBe(502);
    await post('/payment/uzum_confirm', { payment_id: 'u', qr_code: QR });

    const goCalls = await send('GET', '/__sandbox/calls?endpoint=payme_go');
    expect(goCalls.json).toEqual([{ endpoint: 'payme_go', key: '5050', body: { amount: 1, qr_code: '5050' }, at: expect.any(Number), answered: '502' }]);
    expect((await send('GET', '/__sandbox/calls')).json).toHaveLength(2);
    expect((await send('GET', '/__sandbox/calls?endpoint=nope')).status).toBe(400);

    expect((await post('/__sandbox/reset', {})).json).toEqual({ ok: true });
    expect(sandbox.calls()).toEqual([]);
    expect((await post('/payment/payme', { amount: 1, qr_code: '5050' })).status).toBe(200);
  });

  it('close() is prompt even with hanging and slow requests in flight', async () => {
    const doomed = await startSandbox();
    const pending = [
      post('/payment/payme_confirm', { payment_id: 'hang_1', qr_code: QR }, { base: doomed.url }),
      post('/payment/uzum_confirm', { payment_id: 'hang_2', qr_code: QR }, { base: doomed.url }),
      post('/payment/anor_confirm', { transaction_id: 'slow60000_3', qr_code: QR }, { base: doomed.url }),
    ].map((p) => p.then(() => 'answered', () => 'failed'));
    while (doomed.calls().length < 3) await new Promise((r) => setTimeout(r, 5));
    const started = performance.now();
    await doomed.close();
    expect(performance.now() - started).toBeLessThan(500);
    expect(await Promise.all(pending)).toEqual(['failed', 'failed', 'failed']);
  });
});
