import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type ThrowawayRedis } from '../../src/infra/redis-server.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { QR, QueueReader, callsPerKey, keyOf, startFeeder } from '../helpers/serve-process.js';
import { newCode } from '../helpers/ids.js';

/**
 * Issue 8, Redis faults (and issue 4's /readyz): each test has its own redis-server child, which it kills, freezes and
 * restarts; never the shared test Redis. Numbers: docs/RELIABILITY.md.
 */

const uid = () => randomUUID().slice(0, 6);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Redis faults', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  const ownRedis = async (args: string[] = []) => {
    const redis = await startRedisServer(args);
    cleanups.push(async () => {
      redis.process.kill('SIGCONT');
      await redis.stop();
    });
    return redis;
  };
  const harness = async (redis: ThrowawayRedis, env: Record<string, string> = {}) => {
    const h = await startHarness({ env: { REDIS_URL: redis.url, ...env } });
    cleanups.push(() => h.close());
    return h;
  };
  /** Polls /readyz until it answers `status`; returns the answer and how long it took. */
  const readyzBecomes = async (h: Harness, status: number, timeoutMs = 15_000) => {
    const started = Date.now();
    for (;;) {
      const res = await h.get('/readyz');
      if (res.status === status) return { ...res, afterMs: Date.now() - started };
      if (Date.now() - started > timeoutMs) throw new Error(`/readyz still ${res.status} after ${timeoutMs} ms: ${JSON.stringify(res.body)}`);
      await sleep(50);
    }
  };
  const timed = async <T>(fn: () => Promise<T>): Promise<T & { ms: number }> => {
    const started = Date.now();
    const out = await fn();
    return { ...out, ms: Date.now() - started };
  };

  it('Redis killed and restarted mid-traffic (AOF, fsync always): the app reconnects by itself, /readyz flips 503 → 200, nothing accepted is lost', async () => {
    const redis = await ownRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
    const h = await harness(redis, { PROVIDER_TIMEOUT_MS: '2000', WORKER_CONCURRENCY: '20' });
    const reader = new QueueReader(redis.url, h.prefix);
    cleanups.push(() => reader.close());
    const tag = `restart-${uid()}`;
    const calls = () =>
      callsPerKey([...h.sandbox.calls('payme_confirm'), ...h.sandbox.calls('uzum_confirm'), ...h.sandbox.calls('anor_confirm')].filter((c) => c.key.includes(tag)));

    expect((await h.get('/readyz')).status).toBe(200);
    const feeder = startFeeder(() => h.url, { tag, directives: 'slow100', total: 900, batchSize: 30, pauseMs: 30 });
    while (calls().size < 100) await sleep(20);
    const killedAt = Date.now();
    await redis.kill('SIGKILL');
    const down = await readyzBecomes(h, 503);
    expect(down.body).toMatchObject({ ready: false, redis: 'down', reason: expect.stringMatching(/^Redis is not answering/) });
    await sleep(1500);
    const sentBeforeRestart = feeder.sent;
    await redis.start();
    const downMs = Date.now() - killedAt;
    const up = await readyzBecomes(h, 200);
    expect(up.body).toMatchObject({ ready: true, redis: 'up' });
    await feeder.done;
    // Batches were answered 200 (stored) or 503 `unavailable` (not stored): never anything else.
    const statuses = new Set(feeder.answers.map((a) => a.status));
    expect([...statuses].every((s) => s === 200 || s === 503)).toBe(true);
    for (const a of feeder.answers.filter((x) => x.status === 503)) expect(a.body.error.code).toBe('unavailable');
    expect(feeder.answers.filter((a) => a.status === 200).length).toBeGreaterThan(feeder.answers.length / 2);
    // The feeder kept going after the restart, and those batches were stored again.
    expect(feeder.sent).toBeGreaterThan(sentBeforeRestart);

    const drainMs = await reader.waitUntilDrained(feeder.accepted.size, 45_000);
    const states = await reader.states(feeder.accepted);
    expect(new Set(states.values())).toEqual(new Set(['completed']));
    const perKey = calls();
    const counts = [...feeder.accepted].map((id) => perKey.get(keyOf(id))?.length ?? 0);
    expect(counts.filter((n) => n !== 1 && n !== 2)).toEqual([]);
    const twice = counts.filter((n) => n === 2).length;
    expect(twice).toBeLessThanOrEqual(20 * 3);
    console.info(
      `[redis] restart: accepted ${feeder.accepted.size}/${feeder.sent}, batches 503 ${feeder.answers.filter((a) => a.status === 503).length}/${feeder.answers.length}, ` +
        `down ${downMs} ms, /readyz 503 after ${down.afterMs} ms and 200 ${up.afterMs} ms after restart, called twice ${twice}, drained ${drainMs} ms later`,
    );
  }, 60_000);

  it('Redis unreachable at enqueue: 503 `unavailable` within 5 s, never 202; the app recovers when Redis is back', async () => {
    const redis = await ownRedis();
    const h = await harness(redis);
    const tag = uid();
    const body = (n: number) => ({ provider: 'payme', payment_id: `down-${tag}-${n}`, qr_code: QR });
    const ok = await h.post('/v1/confirmations', body(0));
    expect(ok.status).toBe(202);

    // Stopped: connections are refused while ioredis keeps reconnecting.
    await redis.kill('SIGTERM');
    const latencies: number[] = [];
    for (const waitMs of [0, 3000, 5000]) {
      await sleep(waitMs);
      const single = await timed(() => h.post('/v1/confirmations', body(latencies.length + 1)));
      expect(single.status).toBe(503);
      expect(single.body).toEqual({ error: { code: 'unavailable', message: expect.stringMatching(/Redis is not answering; nothing was stored/) } });
      expect(single.ms).toBeLessThan(5000);
      const batch = await timed(() => h.post('/v1/confirmations/batch', { items: [body(100 + latencies.length)] }));
      expect(batch.status).toBe(503);
      expect(batch.ms).toBeLessThan(5000);
      latencies.push(single.ms, batch.ms);
    }

    await redis.start();
    await readyzBecomes(h, 200);
    const back = await h.post('/v1/confirmations', body(50));
    expect(back.status).toBe(202);
    // Nothing answered 503 was stored.
    expect(await h.app.records.get(`payme.down-${tag}-1`)).toBeUndefined();

    // Frozen (SIGSTOP): the connection stays open and nothing answers, the case only commandTimeout catches.
    redis.process.kill('SIGSTOP');
    const frozen = await timed(() => h.post('/v1/confirmations', body(60)));
    const frozenReady = await timed(() => h.get('/readyz'));
    redis.process.kill('SIGCONT');
    expect(frozen.status).toBe(503);
    expect(frozen.body.error.code).toBe('unavailable');
    expect(frozen.ms).toBeLessThan(5000);
    expect(frozenReady.status).toBe(503);
    expect(frozenReady.body.reason).toMatch(/no answer within 2000 ms/);
    await readyzBecomes(h, 200);
    // The retry of the frozen request is stored (its claim may have run late: then it is completed as a repeat).
    const retried = await h.post('/v1/confirmations', body(60));
    expect([200, 202]).toContain(retried.status);
    await h.waitForState(`payme.down-${tag}-60`, 'succeeded');
    await h.waitForState(back.body.id, 'succeeded');
    console.info(`[redis] unreachable: 503 after ${latencies.join('/')} ms (stopped), ${frozen.ms} ms (frozen); /readyz 503 after ${frozenReady.ms} ms (frozen)`);
  }, 60_000);

  it('maxmemory-policy other than noeviction: start-up logs an error naming it and /readyz carries a warning', async () => {
    const redis = await ownRedis(['--maxmemory-policy', 'allkeys-lru']);
    const h = await harness(redis);
    const deadline = Date.now() + 5000;
    const errorLine = () => h.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'error' && l.policy === 'allkeys-lru');
    while (!errorLine() && Date.now() < deadline) await sleep(20);
    expect(errorLine()).toMatchObject({ msg: expect.stringMatching(/maxmemory-policy is not noeviction/) });
    const ready = await h.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.warnings).toEqual([expect.stringMatching(/maxmemory-policy is allkeys-lru; set it to noeviction/)]);
  });

  it('maxmemory-policy is checked when Redis comes up after the app (and reported once)', async () => {
    const redis = await ownRedis(['--maxmemory-policy', 'volatile-lru']);
    await redis.kill('SIGTERM');
    const h = await harness(redis);
    expect((await h.get('/readyz')).status).toBe(503);
    await redis.start();
    const ready = await readyzBecomes(h, 200);
    let warnings = ready.body.warnings;
    for (let i = 0; !warnings && i < 100; i++) {
      await sleep(20);
      warnings = (await h.get('/readyz')).body.warnings;
    }
    expect(warnings).toEqual([expect.stringMatching(/maxmemory-policy is volatile-lru/)]);
    // A reconnection checks again, without a second error line for the same policy.
    await redis.kill('SIGTERM');
    await redis.start();
    await readyzBecomes(h, 200);
    await sleep(300);
    const errors = h.logs.lines.filter((l) => l.includes('"policy":"volatile-lru"'));
    expect(errors).toHaveLength(1);
  }, 30_000);

  it('Redis forgot every script (SCRIPT FLUSH, as a failover to a fresh replica does): each intake path loads them again, no 503', async () => {
    const redis = await ownRedis();
    const h = await harness(redis);
    const flush = async () => {
      const admin = new Redis(redis.url);
      await admin.script('FLUSH');
      admin.disconnect();
    };
    const id = uid();
    // Once with every script known, so the connections have sent them already; then after each flush.
    expect((await h.post('/v1/confirmations', { provider: 'uzum', payment_id: `warm-${id}`, qr_code: QR })).status).toBe(202);
    await flush();
    expect((await h.post('/v1/confirmations', { provider: 'uzum', payment_id: `single-${id}`, qr_code: QR })).status).toBe(202);
    await flush();
    const batch = await h.post('/v1/confirmations/batch', { items: [0, 1, 2].map((i) => ({ provider: 'payme', payment_id: `batch-${id}-${i}`, qr_code: QR })) });
    expect(batch.status).toBe(200);
    expect(batch.body.results.map((r: { state: string; duplicate: boolean }) => [r.state, r.duplicate])).toEqual([
      ['queued', false],
      ['queued', false],
      ['queued', false],
    ]);
    await flush();
    const charge = await h.post('/v1/payments/payme?wait=10', { amount: 1000, qr_code: newCode() }, { 'idempotency-key': `key-${id}` });
    expect(charge.status).toBe(200);
    expect(charge.body.state).toBe('succeeded');
    await flush();
    // A repeat after the flush is still a repeat: the existing-data read is part of the script that was reloaded.
    expect((await h.post('/v1/confirmations', { provider: 'uzum', payment_id: `single-${id}`, qr_code: QR })).status).toBe(200);
    await h.waitForState(`uzum.single-${id}`, 'succeeded');
  }, 30_000);
});
