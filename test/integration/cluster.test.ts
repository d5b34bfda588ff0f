import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { tagSlot } from '../../src/infra/cluster-slots.js';
import { OTHER_QR, QR, startHarness, type Harness } from '../helpers/harness.js';
import { startRedisCluster, type LocalCluster } from '../helpers/redis-cluster.js';
import { uid } from '../helpers/ids.js';

/**
 * Issues 8 and 18: the whole flow on a real local Redis Cluster (three masters started from redis-server in this file,
 * torn down after), with REDIS_CLUSTER=true and QUEUE_SHARDS=payme=3. Every queue gets a hash slot of its own, chosen
 * from the cluster's slot map so the queues go round the masters (infra/layout-store.ts): the three Payme shards on
 * three masters, Uzum, Anor and Click likewise. README "Redis Cluster".
 */


function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

/** Every key under a prefix, per master node. */
async function keysPerNode(cluster: LocalCluster, prefix: string): Promise<{ port: number; keys: string[] }[]> {
  return Promise.all(
    cluster.nodes.map(async (node) => {
      const client = new Redis(node.url);
      try {
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
          cursor = next;
          keys.push(...batch);
        } while (cursor !== '0');
        return { port: node.port, keys };
      } finally {
        client.disconnect();
      }
    }),
  );
}

/** The port of the master that serves a hash tag's slot. */
async function ownerOf(cluster: LocalCluster, tag: string): Promise<number> {
  const probe = new Redis(cluster.url);
  try {
    const ranges = (await probe.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
    const slot = tagSlot(tag);
    return ranges.find(([from, to]) => from <= slot && slot <= to)![2][1];
  } finally {
    probe.disconnect();
  }
}

describe('Redis Cluster (REDIS_CLUSTER=true, QUEUE_SHARDS=payme=3)', () => {
  let cluster: LocalCluster;
  let h: Harness;
  const prefix = `fiscal-${uid()}`;
  const env = (cluster: LocalCluster) => ({ REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', QUEUE_PREFIX: prefix, QUEUE_SHARDS: 'payme=3', RETRY_ATTEMPTS: '3', PROVIDER_TIMEOUT_MS: '500', CIRCUIT_THRESHOLD: '50' });

  beforeAll(async () => {
    cluster = await startRedisCluster();
    h = await startHarness({ env: env(cluster) });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await cluster?.stop();
  });

  const callsFor = (endpoint: 'payme_confirm' | 'uzum_confirm' | 'anor_confirm' | 'click_confirm', key: string) => h.sandbox.calls(endpoint).filter((c) => c.key === key);
  const tags = () => Object.fromEntries(h.app.queues.layout.all().map((ref) => [ref.name, /\{([^}]+)\}/.exec(ref.prefix)![1]!]));

  it('the app runs on the cluster: /readyz is 200 and the client is an ioredis Cluster', async () => {
    const ready = await h.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, redis: 'up' });
    expect(h.app.redis.isCluster).toBe(true);
  });

  it('the queues go round the masters: the three Payme shards on three masters, Uzum, Anor and Click too', async () => {
    const t = tags();
    const owners = async (names: string[]) => new Set(await Promise.all(names.map((n) => ownerOf(cluster, t[n]!))));
    expect((await owners(['payme', 'payme-1', 'payme-2'])).size).toBe(3);
    expect((await owners(['uzum', 'anor', 'click'])).size).toBe(3);
    // The layout is the deployment's, kept in Redis: a second process reads the same tags.
    const stored = JSON.parse((await h.app.redis.get(`${prefix}:layout`))!) as { tags: Record<string, string>; shards: Record<string, number> };
    expect(stored.tags).toMatchObject(t);
    expect(stored.shards).toMatchObject({ payme: 3, uzum: 1, anor: 1, click: 1, payme_go: 1, freedompay: 1 });
  });

  it.each([
    ['payme', 'payment_id', 'payme_confirm'],
    ['uzum', 'payment_id', 'uzum_confirm'],
    ['anor', 'transaction_id', 'anor_confirm'],
    ['click', 'payment_id', 'click_confirm'],
  ] as const)('%s: accepted, succeeded with one call, found by id, payment id and reference', async (provider, idField, endpoint) => {
    const id = `cl-${uid()}`;
    const reference = `order-${id}`;
    const res = await h.post('/v1/confirmations', { provider, [idField]: id, qr_code: QR, reference });
    expect(res.status).toBe(202);
    const record = await h.waitForState(res.body.id, 'succeeded');
    expect(record.attempts).toBe(1);
    expect(callsFor(endpoint, id)).toHaveLength(1);
    const byId = await h.get(`/v1/confirmations/${res.body.id}`);
    expect(byId.body).toMatchObject({ id: res.body.id, provider, state: 'succeeded', reference, [idField]: id });
    const byReference = await h.get(`/v1/confirmations?reference=${reference}`);
    expect(byReference.body.items.map((r: { id: string }) => r.id)).toEqual([res.body.id]);
    const byPayment = await h.get(`/v1/confirmations?payment_id=${id}`);
    expect(byPayment.body.items.map((r: { id: string }) => r.id)).toEqual([res.body.id]);
  });

  it('a batch over every shard and provider: one MULTI per slot, each item its own outcome', async () => {
    const items = Array.from({ length: 60 }, (_, i) => ({ provider: ['payme', 'uzum', 'anor', 'click'][i % 4]!, [i % 4 === 2 ? 'transaction_id' : 'payment_id']: `batch-${uid()}-${i}`, qr_code: QR }));
    const res = await h.post('/v1/confirmations/batch', { items });
    expect(res.status).toBe(200);
    expect(res.body.results.every((r: { state?: string }) => r.state === 'queued')).toBe(true);
    const again = await h.post('/v1/confirmations/batch', { items });
    expect(again.body.results.every((r: { duplicate?: boolean }) => r.duplicate === true)).toBe(true);
    for (const { id } of res.body.results as { id: string }[]) await h.waitForState(id, 'succeeded');
    // Payme's 15 landed on its three shards.
    const payme = (res.body.results as { id: string }[]).filter((r) => r.id.startsWith('payme.'));
    expect(new Set(payme.map((r) => h.app.queues.forRecord(r.id)!.ref.name)).size).toBe(3);
  });

  it('503 twice, then success on the third call; a duplicate and a conflict', async () => {
    const id = `s503x2_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    expect((await h.waitForState(body.id, 'succeeded')).history.map((e) => e.http_status)).toEqual([503, 503, 200]);
    const again = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    expect(again).toMatchObject({ status: 200, body: { id: body.id, state: 'succeeded' } });
    const other = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: OTHER_QR });
    expect(other.status).toBe(409);
    expect(callsFor('uzum_confirm', id)).toHaveLength(3);
  });

  it('a rejection and a permanent 5xx end as dead letters, listed and replayed through the one path', async () => {
    const rejected = `reject_${uid()}`;
    const failing = `s500_${uid()}`;
    const batch = await h.post('/v1/confirmations/batch', {
      items: [
        { provider: 'payme', payment_id: rejected, qr_code: QR },
        { provider: 'anor', transaction_id: failing, qr_code: QR },
      ],
    });
    const [a, b] = batch.body.results as { id: string }[];
    expect((await h.waitForState(a!.id, 'dead')).error).toMatchObject({ kind: 'rejected' });
    expect((await h.waitForState(b!.id, 'dead')).attempts).toBe(3);
    const dead = await h.app.deadLetters.list({ limit: 100 });
    expect(dead.items.map((r) => r.id)).toEqual(expect.arrayContaining([a!.id, b!.id]));
    h.sandbox.program(rejected, '');
    expect(await h.app.deadLetters.replay({ ids: [a!.id], actor: { via: 'api', name: 'test' } })).toMatchObject({ replayed: 1 });
  });

  it('keys on every master; each key in the slot of its own queue', async () => {
    const nodes = await keysPerNode(cluster, prefix);
    for (const node of nodes) expect(node.keys.length, `master ${node.port}`).toBeGreaterThan(0);
    const t = tags();
    const queueOfKey = (key: string) => /\{([^}]+)\}/.exec(key)?.[1];
    const tagged = nodes.flatMap((n) => n.keys.filter((k) => queueOfKey(k)).map((k) => ({ port: n.port, tag: queueOfKey(k)! })));
    expect(tagged.length).toBeGreaterThan(20);
    for (const { port, tag } of tagged) expect(await ownerOf(cluster, tag)).toBe(port);
    // Every provider queue that has had work holds keys under its own tag.
    for (const name of ['payme', 'payme-1', 'payme-2', 'uzum', 'anor', 'click']) expect(tagged.some((k) => k.tag === t[name]), name).toBe(true);
    process.stdout.write(`[cluster] keys per master: ${nodes.map((n) => `${n.port}=${n.keys.length}`).join(' ')}\n`);
  });

  it('a changed QUEUE_SHARDS is refused (exit 78): records are found by their shard', async () => {
    const { code, stderr } = await runCli(['serve'], { ...env(cluster), QUEUE_SHARDS: 'payme=2', PORT: '0', METRICS_PORT: '0' });
    expect(code).toBe(78);
    expect(stderr).toMatch(/^QUEUE_SHARDS: this deployment's queues are sharded payme=3, not payme=2/);
  });

  it('the master of Uzum goes down: Uzum answers 503 within 5 s while the other masters keep accepting; back, it resumes', async () => {
    const port = await ownerOf(cluster, tags().uzum!);
    const owner = cluster.nodes.find((n) => n.port === port)!;
    const elsewhere = (['anor', 'click', 'payme'] as const).find((p) => {
      const t = tags();
      return t[p] && t[p] !== t.uzum;
    })!;
    await owner.kill('SIGKILL');
    const started = Date.now();
    const down = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: `down-${uid()}`, qr_code: QR });
    const downMs = Date.now() - started;
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('unavailable');
    expect(downMs).toBeLessThan(5000);
    expect((await h.get('/readyz')).status).toBe(503);
    // A queue on another master is untouched by this one's outage.
    const idField = elsewhere === 'anor' ? 'transaction_id' : 'payment_id';
    const meanwhile = await h.post('/v1/confirmations', { provider: elsewhere, [idField]: `meanwhile-${uid()}`, qr_code: QR });
    expect(meanwhile.status).toBe(202);

    await owner.start();
    const restartedAt = Date.now();
    const id = `back-${uid()}`;
    let back = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    while (back.status !== 202 && Date.now() - restartedAt < 20_000) {
      await new Promise((r) => setTimeout(r, 200));
      back = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    }
    expect(back.status).toBe(202);
    await h.waitForState(back.body.id, 'succeeded', 30_000);
    process.stdout.write(`[cluster] master of uzum (${port}) killed: 503 after ${downMs} ms; 202 again ${Date.now() - restartedAt} ms after its restart (${elsewhere} lives elsewhere)\n`);
  }, 60_000);

  it('QUEUE_PREFIX needs no braces: the product derives the hash tags, and braces are refused (exit 78)', async () => {
    expect(loadConfig({ REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'fiscal' }).redisCluster).toBe(true);
    expect(() => loadConfig({ REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{fiscal}' })).toThrow(ConfigError);
    const { code, stderr } = await runCli(['serve'], { REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{fiscal}', REDIS_URL: cluster.url });
    expect(code).toBe(78);
    expect(stderr.trim()).toBe('QUEUE_PREFIX: only letters, digits and _ . - are allowed (no braces: the product adds the Redis Cluster hash tags itself)');
  });

  it('every node down: still 503 within 5 s (the cluster client parks commands without a timeout); back, 202 again', async () => {
    await Promise.all(cluster.nodes.map((n) => n.kill('SIGKILL')));
    const started = Date.now();
    const res = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: `alldown-${uid()}`, qr_code: QR });
    const downMs = Date.now() - started;
    expect(res.status).toBe(503);
    expect(downMs).toBeLessThan(5000);
    await Promise.all(cluster.nodes.map((n) => n.start()));
    const restartedAt = Date.now();
    const id = `allback-${uid()}`;
    let back = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: id, qr_code: QR });
    while (back.status !== 202 && Date.now() - restartedAt < 30_000) {
      await new Promise((r) => setTimeout(r, 200));
      back = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: id, qr_code: QR });
    }
    expect(back.status).toBe(202);
    await h.waitForState(back.body.id, 'succeeded', 30_000);
    process.stdout.write(`[cluster] every node down: 503 after ${downMs} ms; 202 again ${Date.now() - restartedAt} ms after their restart\n`);
  }, 90_000);
});
