import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { createRedis, closeRedis } from '../../src/infra/redis.js';
import { layoutOf } from '../../src/providers/index.js';
import { QR, startHarness, testEnv, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';

/**
 * QUEUE_SHARDS (issue 18) on one Redis: a hot confirmation provider split over several BullMQ queues by a hash of the
 * record id, while idempotency, look-ups, rate limit, circuit and metrics stay the provider's. The cluster test shows
 * the same spread over masters.
 */


describe('QUEUE_SHARDS=payme=3', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { QUEUE_SHARDS: 'payme=3', WORKER_CONCURRENCY: '9' } });
  });
  afterAll(() => h?.close());

  it('spreads one provider over its shards and treats it as one provider', async () => {
    const ids = Array.from({ length: 90 }, (_, i) => `shard-${uid()}-${i}`);
    const res = await h.post('/v1/confirmations/batch', { items: ids.map((payment_id) => ({ provider: 'payme', payment_id, qr_code: QR })) });
    expect(res.status).toBe(200);
    const records = await Promise.all((res.body.results as { id: string }[]).map((r) => h.waitForState(r.id, 'succeeded')));
    const counts = await Promise.all(h.app.queues.of('payme').map((q) => q.getCompletedCount()));
    expect(h.app.queues.of('payme').map((q) => q.name)).toEqual(['payme', 'payme-1', 'payme-2']);
    // Every shard took a share; the records read the same as unsharded ones.
    for (const n of counts) expect(n).toBeGreaterThan(10);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(90);
    expect(records.every((r) => r.provider === 'payme' && r.attempts === 1)).toBe(true);
    // A repeat reaches the same shard: duplicate, one call each.
    const again = await h.post('/v1/confirmations', { provider: 'payme', payment_id: ids[7], qr_code: QR });
    expect(again.status).toBe(200);
    expect(h.sandbox.calls('payme_confirm').filter((c) => c.key === ids[7])).toHaveLength(1);
    const byPayment = await h.get(`/v1/confirmations?payment_id=${ids[7]}`);
    expect(byPayment.body.items).toHaveLength(1);
  });

  it('the provider is one in the metrics: every shard counts under provider="payme", queue gauges add up', async () => {
    await h.app.queues.of('payme')[1]!.add('confirm', { payment_id: 'never', qr_code: QR }, { jobId: 'payme.held-for-gauge', delay: 60_000 });
    const { body } = await h.get('/metrics');
    const done = /fiscal_jobs_finished_total\{provider="payme",state="succeeded"\} (\d+)/.exec(body as string);
    expect(Number(done?.[1])).toBeGreaterThanOrEqual(90);
    expect(body).toMatch(/fiscal_queue_jobs\{provider="payme",state="delayed"\} 1\b/);
    expect(body).toMatch(/fiscal_redis_up 1\b/);
  });

  it('a different QUEUE_SHARDS for the same deployment is refused: records are found by their shard', async () => {
    const redis = createRedis(h.env.REDIS_URL!, 'api');
    try {
      const config = loadConfig({ ...h.env, QUEUE_SHARDS: 'payme=2' });
      await expect(layoutOf(config, redis)).rejects.toThrow(ConfigError);
      await expect(layoutOf(config, redis)).rejects.toThrow(/sharded payme=3, not payme=2/);
    } finally {
      await closeRedis(redis);
    }
  });

  it('sharding a provider that already ran unsharded is refused until its queue is drained', async () => {
    const env = testEnv();
    const plain = await startHarness({ env });
    const redis = createRedis(env.REDIS_URL!, 'api');
    try {
      await plain.post('/v1/confirmations', { provider: 'uzum', payment_id: `plain-${uid()}`, qr_code: QR });
      await expect(layoutOf(loadConfig({ ...env, QUEUE_SHARDS: 'uzum=2' }), redis)).rejects.toThrow(/uzum already ran unsharded/);
      // A provider that never had a job may be sharded.
      expect((await layoutOf(loadConfig({ ...env, QUEUE_SHARDS: 'click=2' }), redis)).queues('click')).toHaveLength(2);
    } finally {
      await closeRedis(redis);
      await plain.close();
    }
  });

  it('a server started without the deployment\'s QUEUE_SHARDS is refused once Redis answers (main exits 78)', async () => {
    const { QUEUE_SHARDS: _, ...unsharded } = h.env;
    const refused = new Promise<ConfigError>((resolve) => {
      void startHarness({ env: unsharded, sandbox: false, onLateConfigError: resolve }).then((late) => late.close());
    });
    const err = await refused;
    expect(err.problems.join('\n')).toMatch(/QUEUE_SHARDS: this deployment's queues are sharded payme=3, not payme=1/);
  });

  it('money providers are never sharded (exit 78 naming QUEUE_SHARDS)', async () => {
    const redis = createRedis(h.env.REDIS_URL!, 'api');
    try {
      await expect(layoutOf(loadConfig({ ...testEnv(), QUEUE_SHARDS: 'payme_go=2' }), redis)).rejects.toThrow(/QUEUE_SHARDS: payme_go is a payment provider/);
    } finally {
      await closeRedis(redis);
    }
  });
});
