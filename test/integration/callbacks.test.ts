import { lookup as dnsLookup } from 'node:dns';
import { randomUUID } from 'node:crypto';
import type { LookupFunction } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeCallbackAttempts } from '../../src/callbacks/attempts.js';
import { verifyCallback } from '../../src/callbacks/signature.js';
import type { Logger } from '../../src/observability/logger.js';
import { DeadLetters } from '../../src/workers/dead-letters.js';
import { selfSignedCertificate, startReceiver, type Receiver } from '../helpers/callback-receiver.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { parsePrometheusText, sumSamples } from '../helpers/prom-text.js';
import { until } from '../helpers/prometheus.js';

// Issue 17: result callbacks, against real local receivers (node:http and https on port 0), a real Redis and the
// sandbox. Made-up host names resolve through a lookup injected into the callback dispatcher (CallbackTransportOptions).

const SECRET = 'callback-secret-7f3a9c';
const NAMES: Record<string, string> = { 'rebind.test': '127.0.0.1', 'ten.test': '10.0.0.1', 'trusted.test': '127.0.0.1' };
const fakeLookup: LookupFunction = (hostname, options, callback) => {
  const address = NAMES[hostname];
  if (!address) return (dnsLookup as LookupFunction)(hostname, options, callback);
  if (options.all) callback(null, [{ address, family: 4 }]);
  else callback(null, address, 4);
};

describe('result callbacks', () => {
  const tls = selfSignedCertificate(Object.keys(NAMES));
  let h: Harness;
  const receivers: Receiver[] = [];
  const receiver = async (options?: Parameters<typeof startReceiver>[0]) => {
    const r = await startReceiver(options);
    receivers.push(r);
    return r;
  };

  beforeAll(async () => {
    h = await startHarness({
      env: {
        CALLBACK_SECRET: SECRET,
        CALLBACK_ALLOWED_HOSTS: '127.0.0.1,rebind.test,ten.test,trusted.test',
        CALLBACK_PRIVATE_HOSTS: 'trusted.test',
        RETRY_BASE_MS: '50',
        RETRY_MAX_MS: '200',
        BOARD_USERNAME: 'ops',
        BOARD_PASSWORD: 'board-pw',
      },
      callbackTransport: { lookup: fakeLookup, ca: tls.cert },
      // A callback whose release was lost runs by itself after this (default: the 10 s lock duration).
      callbackGraceMs: 1000,
    });
  });
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });
  afterAll(() => h?.close());

  const tag = () => randomUUID().slice(0, 8);
  const confirm = async (callbackUrl: string, paymentId = `cb-${tag()}`) => {
    const res = await h.post('/v1/confirmations', { provider: 'payme', payment_id: paymentId, qr_code: QR, callback_url: callbackUrl });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return String(res.body.id);
  };
  const callbackJob = async (eventId: string) => {
    const job = await h.app.callbackQueue.getJob(eventId);
    if (!job) throw new Error(`no callback job ${eventId}`);
    return job;
  };
  const waitForCallbackState = async (eventId: string, state: 'completed' | 'failed') => {
    await until(async () => (await h.app.callbackQueue.getJobState(eventId)) === state, 15_000, () => `callback ${eventId} not ${state}`);
    return callbackJob(eventId);
  };
  const callbackCounts = async () => {
    const samples = parsePrometheusText(String((await h.get('/metrics')).body));
    return {
      delivered: sumSamples(samples, 'fiscal_callbacks_total', { result: 'delivered' }),
      failed: sumSamples(samples, 'fiscal_callbacks_total', { result: 'failed' }),
    };
  };

  it('POSTs the record, signed so verifyCallback accepts it, with the event id, once', async () => {
    const r = await receiver();
    const id = await confirm(`${r.url}/fiscal/callbacks?token=sales-token-5521`);
    const [callback] = await r.waitFor((got) => got.length >= 1);
    const eventId = `callbacks.${id}.succeeded.0`;
    await waitForCallbackState(eventId, 'completed');

    expect(r.received).toHaveLength(1);
    expect(callback!.path).toBe('/fiscal/callbacks?token=sales-token-5521');
    expect(callback!.eventId).toBe(eventId);
    expect(callback!.headers['content-type']).toBe('application/json');
    expect(callback!.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyCallback(callback!.body, callback!.signature, SECRET, 300)).toBe(true);
    expect(verifyCallback(callback!.body.replace('"succeeded"', '"dead"'), callback!.signature, SECRET, 300)).toBe(false);
    expect(verifyCallback(callback!.body, callback!.signature, 'another-secret', 300)).toBe(false);
    expect(verifyCallback(callback!.body, callback!.signature, SECRET, 300, Date.now() + 301_000)).toBe(false);
    // The body is the record exactly as GET /v1/confirmations/{id} shows it.
    expect(JSON.parse(callback!.body)).toEqual((await h.get(`/v1/confirmations/${id}`)).body);
    expect(JSON.parse(callback!.body)).toMatchObject({ id, state: 'succeeded', provider: 'payme' });
    // Never the secret, the query's token or the receiver's body in a log line.
    expect(h.logs.text).not.toContain(SECRET);
    expect(h.logs.text).not.toContain('sales-token-5521');
  });

  it('a dead record is called back too, with its error', async () => {
    const r = await receiver();
    const id = await confirm(`${r.url}/cb`, `reject_cb-${tag()}`);
    const [callback] = await r.waitFor((got) => got.length >= 1);
    await waitForCallbackState(`callbacks.${id}.dead.0`, 'completed');
    expect(callback!.eventId).toBe(`callbacks.${id}.dead.0`);
    expect(JSON.parse(callback!.body)).toMatchObject({ id, state: 'dead', error: { kind: 'rejected' } });
    expect(verifyCallback(callback!.body, callback!.signature, SECRET)).toBe(true);
  });

  it('a receiver answering 500 then 200 gets exactly two deliveries, same event id and body', async () => {
    const before = await callbackCounts();
    const r = await receiver();
    r.respond = (_callback, index) => (index === 0 ? 500 : 200);
    const id = await confirm(`${r.url}/cb`);
    const eventId = `callbacks.${id}.succeeded.0`;
    const job = await waitForCallbackState(eventId, 'completed');

    expect(r.received).toHaveLength(2);
    const [first, second] = r.received;
    expect(second!.eventId).toBe(first!.eventId);
    expect(second!.body).toBe(first!.body);
    for (const callback of r.received) expect(verifyCallback(callback.body, callback.signature, SECRET)).toBe(true);
    expect(job.returnvalue).toMatchObject({ delivered: true, http_status: 200, attempt: 2 });
    expect(decodeCallbackAttempts(job.stacktrace)).toEqual([expect.objectContaining({ http_status: 500, code: 'http_500', attempt: 1 })]);
    const after = await callbackCounts();
    expect(after.delivered - before.delivered).toBe(1);
    expect(after.failed - before.failed).toBe(1);
    expect(h.logs.lines.some((line) => line.includes('"callback delivery failed; will retry"') && line.includes(eventId))).toBe(true);
  });

  it('a receiver that is down for a while gets the callback once it is back', async () => {
    const r = await receiver();
    await r.stop();
    const id = await confirm(`${r.url}/cb`);
    const eventId = `callbacks.${id}.succeeded.0`;
    await until(async () => decodeCallbackAttempts((await h.app.callbackQueue.getJob(eventId))?.stacktrace).length >= 3, 15_000, () => 'no failed attempts');
    expect(r.received).toHaveLength(0);
    await r.restart();
    const job = await waitForCallbackState(eventId, 'completed');
    expect(r.received).toHaveLength(1);
    expect(r.received[0]!.eventId).toBe(eventId);
    const failures = decodeCallbackAttempts(job.stacktrace);
    expect(failures.length).toBeGreaterThanOrEqual(3);
    for (const failure of failures) expect(failure).toMatchObject({ http_status: 'network', code: 'ECONNREFUSED' });
  });

  it('a 410 stops retries at once; the dead letter replays through DeadLetters and through Bull Board', async () => {
    const r = await receiver();
    r.respond = () => 410;
    const ids = [await confirm(`${r.url}/gone`), await confirm(`${r.url}/gone`)];
    const eventIds = ids.map((id) => `callbacks.${id}.succeeded.0`);
    for (const eventId of eventIds) {
      const dead = await waitForCallbackState(eventId, 'failed');
      expect(dead.failedReason).toMatch(/^gone: the receiver answered 410 Gone/);
    }
    expect(r.received).toHaveLength(2); // one delivery each, no retry
    const firstBodies = r.received.map((c) => c.body);

    r.respond = () => 200;
    const deadLetters = new DeadLetters({ queues: h.app.queues, logger: h.app.http.log as unknown as Logger, callbacks: h.app.callbackQueue });
    expect(await deadLetters.replayDeadLetter(eventIds[0]!)).toEqual({ id: eventIds[0], replayed: true });
    const board = await fetch(`${h.url}/admin/queues/api/queues/callbacks/${encodeURIComponent(eventIds[1]!)}/retry`, {
      method: 'PUT',
      headers: { authorization: `Basic ${Buffer.from('ops:board-pw').toString('base64')}` },
    });
    expect(board.status).toBe(204);
    for (const eventId of eventIds) await waitForCallbackState(eventId, 'completed');
    expect(r.received).toHaveLength(4);
    // The same events, the same bytes, signed afresh.
    expect(r.received.slice(2).map((c) => c.eventId).sort()).toEqual([...eventIds].sort());
    expect(r.received.slice(2).map((c) => c.body).sort()).toEqual([...firstBodies].sort());
    expect(await deadLetters.replayDeadLetter(eventIds[0]!)).toMatchObject({ replayed: false, reason: 'not_dead' });
  });

  it('refuses a callback_url at enqueue with a clear 400 naming the field', async () => {
    const cases: [string, RegExp][] = [
      ['https://evil.example/cb', /^callback_url host evil\.example is not on CALLBACK_ALLOWED_HOSTS$/],
      ['http://rebind.test/cb', /callback_url must use https \(http only to a loopback host/],
      ['https://user:pw@rebind.test/cb', /callback_url must not carry credentials/],
      ['not a url', /callback_url must be an absolute URL/],
    ];
    for (const [url, message] of cases) {
      const res = await h.post('/v1/confirmations', { provider: 'payme', payment_id: `bad-${tag()}`, qr_code: QR, callback_url: url });
      expect(res.status, url).toBe(400);
      expect(res.body.error.code).toBe('invalid_body');
      expect(res.body.error.details).toEqual([{ field: 'callback_url', message: expect.stringMatching(message) }]);
    }
  });

  it('refuses at send time a host that resolves to a loopback or private address, unless trusted with them', async () => {
    const r = await receiver({ tls });
    const refusedLoopback = await confirm(`https://rebind.test:${r.port}/cb`);
    const refusedPrivate = await confirm(`https://ten.test:${r.port}/cb`);
    const trusted = await confirm(`https://trusted.test:${r.port}/cb`);

    const loopbackDead = await waitForCallbackState(`callbacks.${refusedLoopback}.succeeded.0`, 'failed');
    expect(loopbackDead.failedReason).toMatch(/^address_refused: rebind\.test resolved to 127\.0\.0\.1; .*CALLBACK_PRIVATE_HOSTS/);
    const privateDead = await waitForCallbackState(`callbacks.${refusedPrivate}.succeeded.0`, 'failed');
    expect(privateDead.failedReason).toMatch(/^address_refused: ten\.test resolved to 10\.0\.0\.1; /);
    await waitForCallbackState(`callbacks.${trusted}.succeeded.0`, 'completed');
    // Only the trusted host's callback reached the receiver, over TLS, signed.
    expect(r.received.map((c) => c.eventId)).toEqual([`callbacks.${trusted}.succeeded.0`]);
    expect(r.received[0]!.headers.host).toBe(`trusted.test:${r.port}`);
    expect(verifyCallback(r.received[0]!.body, r.received[0]!.signature, SECRET)).toBe(true);
  });

  it('never follows a redirect: the target of the Location header gets nothing', async () => {
    const r = await receiver();
    const elsewhere = await receiver();
    r.respond = (_callback, index) => (index < 2 ? { status: 302, headers: { location: `${elsewhere.url}/stolen` } } : 200);
    const id = await confirm(`${r.url}/cb`);
    const job = await waitForCallbackState(`callbacks.${id}.succeeded.0`, 'completed');
    expect(r.received).toHaveLength(3);
    expect(elsewhere.received).toHaveLength(0);
    expect(decodeCallbackAttempts(job.stacktrace)).toEqual([
      expect.objectContaining({ http_status: 302, code: 'http_302', message: expect.stringContaining('redirects are not followed') }),
      expect.objectContaining({ http_status: 302, attempt: 2 }),
    ]);
  });

  it('a callback whose release is lost (the process died after the record ended) still goes out', async () => {
    const r = await receiver();
    const scheduler = h.app.callbacks!.scheduler;
    const release = scheduler.release;
    const released: string[] = [];
    scheduler.release = (_queue, job) => void released.push(job.id!);
    try {
      const id = await confirm(`${r.url}/cb`);
      await h.waitForState(id, 'succeeded');
      const [callback] = await r.waitFor((got) => got.length >= 1, 30_000);
      await waitForCallbackState(`callbacks.${id}.succeeded.0`, 'completed');
      expect(released).toEqual([id]);
      expect(callback!.eventId).toBe(`callbacks.${id}.succeeded.0`);
      expect(JSON.parse(callback!.body)).toMatchObject({ id, state: 'succeeded' });
    } finally {
      scheduler.release = release;
    }
  });

  it('a callback whose early scheduling failed is added when the record has ended', async () => {
    const r = await receiver();
    const scheduler = h.app.callbacks!.scheduler;
    const prepare = scheduler.prepare;
    scheduler.prepare = async () => undefined;
    try {
      const id = await confirm(`${r.url}/cb`);
      const [callback] = await r.waitFor((got) => got.length >= 1);
      await waitForCallbackState(`callbacks.${id}.succeeded.0`, 'completed');
      expect(callback!.eventId).toBe(`callbacks.${id}.succeeded.0`);
    } finally {
      scheduler.prepare = prepare;
    }
  });
});

describe('result callbacks: the retry window', () => {
  let h: Harness;
  let r: Receiver;
  beforeAll(async () => {
    r = await startReceiver();
    r.respond = () => 503;
    // 0.0005 h = 1.8 s of retries at most 200 ms apart.
    h = await startHarness({ env: { CALLBACK_URL: `${r.url}/cb`, CALLBACK_SECRET: SECRET, CALLBACK_RETRY_HOURS: '0.0005', RETRY_BASE_MS: '50', RETRY_MAX_MS: '200' } });
  });
  afterAll(async () => {
    await h?.close();
    await r?.close();
  });

  it('retries a failing receiver until CALLBACK_RETRY_HOURS have passed, then dead-letters the callback', async () => {
    const res = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: `cbwin-${randomUUID().slice(0, 8)}`, qr_code: QR });
    expect(res.status).toBe(202);
    const eventId = `callbacks.${res.body.id}.succeeded.0`;
    await until(async () => (await h.app.callbackQueue.getJobState(eventId)) === 'failed', 20_000, () => 'callback not dead');
    const job = (await h.app.callbackQueue.getJob(eventId))!;
    expect(job.failedReason).toMatch(/^retries_exhausted: no 2xx within CALLBACK_RETRY_HOURS \(0\.0005 h\)/);
    const attempts = decodeCallbackAttempts(job.stacktrace);
    const last = attempts[attempts.length - 1]!;
    expect(last.terminal).toBe(true);
    expect(attempts.length).toBe(r.received.length);
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    // Retried for at least the whole window after the event.
    expect(Date.parse(last.at) + last.latency_ms - last.window_from).toBeGreaterThanOrEqual(1800);
    expect(new Set(r.received.map((c) => c.eventId))).toEqual(new Set([eventId]));
  });
});
