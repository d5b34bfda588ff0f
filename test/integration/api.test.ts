import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { createLogger } from '../../src/observability/logger.js';
import { LogCapture, OTHER_QR, QR, startHarness, testEnv, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';

const TOKENS = ['tok-current-1f0e', 'tok-next-9a7c'];

describe('enqueue API over real HTTP on real Redis', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { API_TOKENS: TOKENS.join(','), BOARD_USERNAME: 'ops', BOARD_PASSWORD: 'board-pw-77' } });
  });
  afterAll(() => h?.close());

  const raw = (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    request(h.url + path, { method: (init.method ?? 'POST') as 'POST', headers: init.headers ?? {}, body: init.body }).then(async (r) => ({
      status: r.statusCode,
      headers: r.headers,
      body: (await r.body.text()) as string,
    }));
  const bearer = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

  describe('errors have one shape and name the field', () => {
    it('400 names the field and what was wrong', async () => {
      const res = await h.post('/v1/confirmations', { provider: 'payme', payment_id: '', qr_code: 'http://ofd.soliq.uz/check?t=1&r=2&c=3' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_body');
      expect(res.body.error.message).toMatch(/payment_id/);
      expect(res.body.error.message).toMatch(/qr_code/);
      expect(res.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: 'payment_id' }), expect.objectContaining({ field: 'qr_code', message: expect.stringMatching(/https/) })]),
      );
    });

    it('400 for an unknown provider, an anor body without transaction_id, and unknown fields', async () => {
      const unknown = await h.post('/v1/confirmations', { provider: 'humo', payment_id: 'x', qr_code: QR });
      expect(unknown.body.error.message).toMatch(/provider must be one of payme, uzum, anor, click/);
      const anor = await h.post('/v1/confirmations', { provider: 'anor', payment_id: 'x', qr_code: QR });
      expect(anor.status).toBe(400);
      expect(anor.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'transaction_id' })]));
      const extra = await h.post('/v1/confirmations', { provider: 'payme', payment_id: 'x', qr_code: QR, amount: 5 });
      expect(extra.body.error.message).toMatch(/unknown field\(s\): amount/);
    });

    it('400 for a body that is not JSON', async () => {
      const res = await raw('/v1/confirmations', { headers: bearer(TOKENS[0]!), body: '{"provider": "payme",' });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).error.code).toBe('invalid_json');
    });

    it('413 over 1 MiB', async () => {
      const res = await raw('/v1/confirmations', { headers: bearer(TOKENS[0]!), body: JSON.stringify({ provider: 'payme', pad: 'x'.repeat(1024 * 1024) }) });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body).error.code).toBe('payload_too_large');
    });

    it('415 for a wrong content type', async () => {
      const res = await raw('/v1/confirmations', { headers: { authorization: `Bearer ${TOKENS[0]}`, 'content-type': 'text/plain' }, body: 'hi' });
      expect(res.status).toBe(415);
      expect(JSON.parse(res.body).error.code).toBe('unsupported_media_type');
    });

    it('404 for an unknown id and an unknown route', async () => {
      const res = await h.get('/v1/confirmations/payme.nope-never');
      expect(res.status).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'not_found', message: expect.stringMatching(/payme\.nope-never/) });
      expect((await h.get('/v1/nothing')).body.error.code).toBe('not_found');
    });

    it('401 without a token, with a wrong one; both configured tokens work (rotation)', async () => {
      const body = JSON.stringify({ provider: 'payme', payment_id: `rot-${uid()}`, qr_code: QR });
      expect((await raw('/v1/confirmations', { headers: { 'content-type': 'application/json' }, body })).status).toBe(401);
      const wrong = await raw('/v1/confirmations', { headers: bearer('tok-retired-0000'), body });
      expect(wrong.status).toBe(401);
      expect(JSON.parse(wrong.body).error.code).toBe('unauthorized');
      expect((await raw('/v1/confirmations', { headers: bearer(TOKENS[0]!), body })).status).toBe(202);
      expect((await raw('/v1/confirmations', { headers: bearer(TOKENS[1]!), body })).status).toBe(200);
    });

    it('accepts the Bearer scheme name in any case (CONTRACT §3), and only with a valid token', async () => {
      const body = JSON.stringify({ provider: 'payme', payment_id: `case-${uid()}`, qr_code: QR });
      const statuses: Record<string, number> = {};
      for (const scheme of ['bearer', 'BEARER', 'BeArEr', 'Bearer']) {
        const res = await raw('/v1/confirmations', { headers: { authorization: `${scheme} ${TOKENS[0]}`, 'content-type': 'application/json' }, body });
        statuses[scheme] = res.status;
      }
      expect(statuses).toEqual({ bearer: 202, BEARER: 200, BeArEr: 200, Bearer: 200 });
      for (const authorization of [`bearer x${TOKENS[0]}`, `bearer${TOKENS[0]}`, `Basic ${TOKENS[0]}`, 'bearer ']) {
        const res = await raw('/v1/confirmations', { headers: { authorization, 'content-type': 'application/json' }, body });
        expect(res.status, authorization).toBe(401);
      }
    });

    it('echoes X-Request-Id and never logs tokens or bodies', async () => {
      const res = await h.get('/v1/confirmations/payme.x', { 'x-request-id': 'req-123' });
      expect(res.headers['x-request-id']).toBe('req-123');
      expect(h.logs.text).toContain('"req_id":"req-123"');
      for (const token of TOKENS) expect(h.logs.text).not.toContain(token);
    });
  });

  it('202 new → 200 duplicate (same record) → 409 conflict; GET by id, payment_id and reference', async () => {
    const paymentId = `flow-${uid()}`;
    const reference = `order-${uid()}`;
    const created = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: paymentId, qr_code: QR, reference });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ id: `uzum.${paymentId}`, state: 'queued', reference, attempts: 0 });
    const done = await h.waitForState(created.body.id, 'succeeded');
    const dup = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: paymentId, qr_code: QR, reference });
    expect(dup.status).toBe(200);
    expect(dup.body).toEqual(done);
    const conflict = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: paymentId, qr_code: OTHER_QR });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toMatchObject({ code: 'conflict', details: { id: created.body.id } });

    const byId = await h.get(`/v1/confirmations/${created.body.id}`);
    expect(byId.body).toMatchObject({ id: created.body.id, provider: 'uzum', payment_id: paymentId, state: 'succeeded', reference, attempts: 1 });
    expect(Object.keys(byId.body)).toEqual(
      expect.arrayContaining(['id', 'provider', 'payment_id', 'state', 'attempts', 'created_at', 'finished_at', 'result', 'error', 'reference', 'history']),
    );
    expect((await h.get(`/v1/confirmations?payment_id=${paymentId}`)).body.items.map((r: { id: string }) => r.id)).toEqual([created.body.id]);
    expect((await h.get(`/v1/confirmations?reference=${reference}`)).body.items.map((r: { id: string }) => r.id)).toEqual([created.body.id]);
    expect((await h.get('/v1/confirmations')).status).toBe(400);
  });

  it('payment_id look-up also matches an Anor transaction_id', async () => {
    const tx = `tx-${uid()}`;
    await h.post('/v1/confirmations', { provider: 'anor', transaction_id: tx, qr_code: QR });
    const found = await h.get(`/v1/confirmations?payment_id=${tx}`);
    expect(found.body.items).toEqual([expect.objectContaining({ id: `anor.${tx}`, transaction_id: tx })]);
  });

  it('50 concurrent identical POSTs make exactly one job and one provider call', async () => {
    const paymentId = `race-${uid()}`;
    const body = { provider: 'payme', payment_id: paymentId, qr_code: QR };
    const answers = await Promise.all(Array.from({ length: 50 }, () => h.post('/v1/confirmations', body)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(49);
    expect(new Set(answers.map((a) => a.body.id))).toEqual(new Set([`payme.${paymentId}`]));
    await h.waitForState(`payme.${paymentId}`, 'succeeded');
    const counts = await h.app.queues.get('payme').getJobCounts();
    expect(h.sandbox.calls('payme_confirm').filter((c) => c.key === paymentId)).toHaveLength(1);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('a 1000-item batch with invalid items: one result per item, the bad ones never reject the rest', async () => {
    const run = uid();
    const items = Array.from({ length: 1000 }, (_, i) => {
      if (i % 100 === 7) return { provider: 'payme', payment_id: `b-${run}-${i}`, qr_code: 'https://evil.example/x' };
      if (i % 100 === 13) return { provider: 'nope' };
      if (i === 500) return { provider: 'uzum', payment_id: `b-${run}-499`, qr_code: OTHER_QR }; // same payment as item 499: conflict
      return { provider: i % 2 ? 'uzum' : 'payme', payment_id: `b-${run}-${i}`, qr_code: QR };
    });
    items[499] = { provider: 'uzum', payment_id: `b-${run}-499`, qr_code: QR };
    const res = await h.post('/v1/confirmations/batch', { items });
    expect(res.status).toBe(200);
    const results = res.body.results as { index: number; id?: string; state?: string; error?: { code: string; message: string } }[];
    expect(results).toHaveLength(1000);
    expect(results.map((r) => r.index)).toEqual(items.map((_, i) => i));
    const invalid = results.filter((r) => r.error?.code === 'invalid_body');
    expect(invalid.map((r) => r.index)).toEqual(items.flatMap((_, i) => (i % 100 === 7 || i % 100 === 13 ? [i] : [])));
    expect(results[7]!.error!.message).toMatch(/qr_code host evil\.example/);
    expect(results[500]).toMatchObject({ error: { code: 'conflict' } });
    const queued = results.filter((r) => r.state === 'queued');
    expect(queued).toHaveLength(1000 - invalid.length - 1);
    const again = await h.post('/v1/confirmations/batch', { items: items.slice(0, 10) });
    expect(again.body.results.filter((r: { duplicate?: boolean }) => r.duplicate)).toHaveLength(9);
  });

  it('more than 1000 items is 400 too_many_items', async () => {
    const res = await h.post('/v1/confirmations/batch', { items: Array.from({ length: 1001 }, () => ({})) });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'too_many_items', details: { limit: 1000, received: 1001 } });
  });

  it('Bull Board answers 401 with WWW-Authenticate without credentials and 200 with them', async () => {
    const anonymous = await raw('/admin/queues', { method: 'GET' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic /);
    const wrong = await raw('/admin/queues', { method: 'GET', headers: { authorization: `Basic ${Buffer.from('ops:nope').toString('base64')}` } });
    expect(wrong.status).toBe(401);
    const ok = await raw('/admin/queues', { method: 'GET', headers: { authorization: `Basic ${Buffer.from('ops:board-pw-77').toString('base64')}` } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(/<html/i);
    const api = await raw('/admin/queues/api/queues', { method: 'GET', headers: { authorization: `Basic ${Buffer.from('ops:board-pw-77').toString('base64')}` } });
    expect(JSON.parse(api.body).queues.map((q: { name: string }) => q.name).sort()).toEqual(['anor', 'callbacks', 'click', 'freedompay', 'payme', 'payme_go', 'uzum']);
  });

  it('health, readiness, metrics and OpenAPI need no token', async () => {
    expect((await raw('/healthz', { method: 'GET' })).status).toBe(200);
    const ready = await raw('/readyz', { method: 'GET' });
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ ready: true, redis: 'up' });
    const metrics = await raw('/metrics', { method: 'GET' });
    expect(metrics.body).toMatch(/^fiscal_enqueued_total\{provider="payme",result="created"\} \d+/m);
    expect(metrics.body).toMatch(/^fiscal_queue_jobs\{provider="uzum",state="waiting"\} \d+/m);
    const openapi = JSON.parse((await raw('/openapi.json', { method: 'GET' })).body);
    expect(openapi.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/confirmations', '/v1/confirmations/batch', '/v1/confirmations/{id}']));
    const confirmation = JSON.stringify(openapi.components.schemas.Confirmation);
    for (const field of ['payment_id', 'transaction_id', 'qr_code', 'callback_url', 'reference']) expect(confirmation).toContain(field);
  });
});

describe('binding rules', () => {
  it('refuses a non-loopback HOST when no API tokens or board credentials are configured', async () => {
    const config = loadConfig(testEnv({ HOST: '0.0.0.0' }));
    await expect(buildApp({ config, logger: createLogger('silent', new LogCapture()), mode: 'api' })).rejects.toThrow(ConfigError);
  });

  it('binds a non-loopback HOST when tokens and board credentials are set', async () => {
    const config = loadConfig(testEnv({ HOST: '0.0.0.0', API_TOKENS: 't1', BOARD_USERNAME: 'u', BOARD_PASSWORD: 'p' }));
    const app = await buildApp({ config, logger: createLogger('silent', new LogCapture()), mode: 'api' });
    try {
      const address = await app.start();
      expect(address).toMatch(/^http:\/\//);
    } finally {
      await app.close();
    }
  });
});
