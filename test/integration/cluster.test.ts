import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { OTHER_QR, QR, startHarness, type Harness } from '../helpers/harness.js';
import { startRedisCluster, type LocalCluster } from '../helpers/redis-cluster.js';

/**
 * Issues 8 and 18: the whole confirmation flow on a real local Redis Cluster (three masters started from redis-server
 * in this file, torn down after), with REDIS_CLUSTER=true; the product gives every queue a hash slot of its own.
 * README "Redis Cluster".
 */

const uid = () => randomUUID().slice(0, 8);

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('Redis Cluster (REDIS_CLUSTER=true)', () => {
  let cluster: LocalCluster;
  let h: Harness;
  const prefix = `fiscal-${uid()}`;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    h = await startHarness({
      env: { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', QUEUE_PREFIX: prefix, RETRY_ATTEMPTS: '3', PROVIDER_TIMEOUT_MS: '500', CIRCUIT_THRESHOLD: '50' },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await cluster?.stop();
  });

  const callsFor = (endpoint: 'payme_confirm' | 'uzum_confirm' | 'anor_confirm', key: string) => h.sandbox.calls(endpoint).filter((c) => c.key === key);

  it('the app runs on the cluster: /readyz becomes 200 and the client is an ioredis Cluster', async () => {
    // Ready once the cluster client has the slot map and the queues' master answers: on a busy machine that can come
    // after start() returned (/readyz answers 503 meanwhile, as it should), so wait for it rather than ask once.
    const deadline = Date.now() + 15_000;
    let ready = await h.get('/readyz');
    while (ready.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      ready = await h.get('/readyz');
    }
    expect(ready.status, JSON.stringify(ready.body)).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, redis: 'up' });
    expect(h.app.redis.isCluster).toBe(true);
  });

  it.each([
    ['payme', 'payment_id', 'payme_confirm'],
    ['uzum', 'payment_id', 'uzum_confirm'],
    ['anor', 'transaction_id', 'anor_confirm'],
  ] as const)('%s: accepted, succeeded with one call, found by id, payment id and reference', async (provider, idField, endpoint) => {
    const id = `cl-${uid()}`;
    const reference = `order-${id}`;
    const res = await h.post('/v1/confirmations', { provider, [idField]: id, qr_code: QR, reference });
    expect(res.status).toBe(202);
    const record = await h.waitForState(res.body.id, 'succeeded');
    expect(record.attempts).toBe(1);
    expect(callsFor(endpoint, id)).toHaveLength(1);
    const byId = await h.get(`/v1/confirmations/${res.body.id}`);
    expect(byId.status).toBe(200);
    expect(byId.body).toMatchObject({ id: res.body.id, state: 'succeeded', reference, [idField]: id });
    const byReference = await h.get(`/v1/confirmations?reference=${reference}`);
    expect(byReference.body.items.map((r: { id: string }) => r.id)).toEqual([res.body.id]);
    const byPayment = await h.get(`/v1/confirmations?payment_id=${id}`);
    expect(byPayment.body.items.map((r: { id: string }) => r.id)).toEqual([res.body.id]);
  });

  it('503 twice, then success on the third call', async () => {
    const id = `s503x2_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'succeeded');
    expect(record.history.map((e) => e.http_status)).toEqual([503, 503, 200]);
    expect(callsFor('uzum_confirm', id)).toHaveLength(3);
  });

  it('a duplicate answers 200 with the record and never calls the provider again', async () => {
    const id = `dup-${uid()}`;
    const first = await h.post('/v1/confirmations', { provider: 'payme', payment_id: id, qr_code: QR });
    await h.waitForState(first.body.id, 'succeeded');
    const again = await h.post('/v1/confirmations', { provider: 'payme', payment_id: id, qr_code: QR });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, state: 'succeeded' });
    expect(callsFor('payme_confirm', id)).toHaveLength(1);
  });

  it('the same payment with another qr_code is a conflict (409)', async () => {
    const id = `conflict-${uid()}`;
    const first = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: id, qr_code: QR });
    const other = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: id, qr_code: OTHER_QR });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('conflict');
    await h.waitForState(first.body.id, 'succeeded');
    expect(callsFor('anor_confirm', id)).toHaveLength(1);
  });

  it('a rejection and a permanent 5xx end as dead letters', async () => {
    const rejected = `reject_${uid()}`;
    const failing = `s500_${uid()}`;
    const batch = await h.post('/v1/confirmations/batch', {
      items: [
        { provider: 'payme', payment_id: rejected, qr_code: QR },
        { provider: 'uzum', payment_id: failing, qr_code: QR },
      ],
    });
    expect(batch.status).toBe(200);
    const [a, b] = batch.body.results as { id: string }[];
    expect((await h.waitForState(a!.id, 'dead')).error).toMatchObject({ kind: 'rejected' });
    const dead = await h.waitForState(b!.id, 'dead');
    expect(dead.attempts).toBe(3);
    expect(callsFor('uzum_confirm', failing)).toHaveLength(3);
  });

  it('each queue keeps its keys in one slot of its own; the queues spread over the masters', async () => {
    const perNode = await Promise.all(
      cluster.nodes.map(async (node) => {
        const { Redis } = await import('ioredis');
        const client = new Redis(node.url);
        try {
          const keys: string[] = [];
          let cursor = '0';
          do {
            const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
            cursor = next;
            keys.push(...batch);
          } while (cursor !== '0');
          const slots = new Set(await Promise.all(keys.map((k) => client.cluster('KEYSLOT', k))));
          const queues = new Set(keys.map((k) => /\{([^}]+)\}/.exec(k)?.[1]).filter(Boolean));
          return { keys: keys.length, slots, queues };
        } finally {
          client.disconnect();
        }
      }),
    );
    const holding = perNode.filter((n) => n.keys > 0);
    expect(holding.length).toBeGreaterThanOrEqual(2);
    // One slot per queue: a node's slots are exactly the queues it holds.
    for (const node of holding) expect(node.slots.size).toBe(node.queues.size);
  });

  it('the master holding a queue goes down: 503 within 5 s and /readyz 503; back again, the flow resumes by itself', async () => {
    const { Redis } = await import('ioredis');
    const probe = new Redis(cluster.url);
    const slot = (await probe.cluster('KEYSLOT', `${prefix}:{payme}`)) as number;
    const ranges = (await probe.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
    probe.disconnect();
    const ownerPort = ranges.find(([from, to]) => from <= slot && slot <= to)![2][1];
    const owner = cluster.nodes.find((n) => n.port === ownerPort)!;
    const before = await h.post('/v1/confirmations', { provider: 'payme', payment_id: `slow300_before-${uid()}`, qr_code: QR });
    expect(before.status).toBe(202);

    await owner.kill('SIGKILL');
    const started = Date.now();
    const down = await h.post('/v1/confirmations', { provider: 'payme', payment_id: `down-${uid()}`, qr_code: QR });
    const downMs = Date.now() - started;
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('unavailable');
    expect(downMs).toBeLessThan(5000);
    const ready = await h.get('/readyz');
    expect(ready.status).toBe(503);

    await owner.start();
    const restartedAt = Date.now();
    const id = `back-${uid()}`;
    let back = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    for (let i = 0; back.status !== 202 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 200));
      back = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    }
    if (back.status !== 202) console.info('[cluster-debug]', JSON.stringify(back.body), h.logs.lines.slice(-5).join('\n'));
    expect(back.status).toBe(202);
    const acceptedAfterMs = Date.now() - restartedAt;
    await h.waitForState(back.body.id, 'succeeded', 20_000);
    await h.waitForState(before.body.id, 'succeeded', 20_000);
    expect((await h.get('/readyz')).status).toBe(200);
    console.info(
      `[cluster] master of slot ${slot} killed: 503 after ${downMs} ms, /readyz ${ready.status}; after its restart 202 again in ${acceptedAfterMs} ms, ` +
        `both jobs succeeded ${Date.now() - restartedAt} ms after it`,
    );
  }, 45_000);

  it('every node down: still 503 within 5 s (the cluster client parks commands without a timeout); back, 202 again', async () => {
    await Promise.all(cluster.nodes.map((n) => n.kill('SIGKILL')));
    const latencies: number[] = [];
    for (const waitMs of [0, 2000]) {
      await new Promise((r) => setTimeout(r, waitMs));
      const started = Date.now();
      const res = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: `alldown-${uid()}`, qr_code: QR });
      latencies.push(Date.now() - started);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
    }
    expect(Math.max(...latencies)).toBeLessThan(5000);
    expect((await h.get('/readyz')).status).toBe(503);
    await Promise.all(cluster.nodes.map((n) => n.start()));
    const restartedAt = Date.now();
    const id = `allback-${uid()}`;
    let back = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: id, qr_code: QR });
    for (let i = 0; back.status !== 202 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 200));
      back = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: id, qr_code: QR });
    }
    expect(back.status).toBe(202);
    await h.waitForState(back.body.id, 'succeeded', 20_000);
    console.info(`[cluster] every node down: 503 after ${latencies.join('/')} ms; after their restart 202 again in ${Date.now() - restartedAt} ms`);
  }, 45_000);

  it('QUEUE_PREFIX needs no braces: the product derives the hash tags, and braces are refused (exit 78)', async () => {
    expect(loadConfig({ REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'fiscal' }).redisCluster).toBe(true);
    expect(() => loadConfig({ REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{fiscal}' })).toThrow(ConfigError);
    const { code, stderr } = await runCli(['serve'], { REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{fiscal}', REDIS_URL: cluster.url });
    expect(code).toBe(78);
    expect(stderr.trim()).toBe('QUEUE_PREFIX: only letters, digits and _ . - are allowed (no braces: the product adds the Redis Cluster hash tags itself)');
  });
});
