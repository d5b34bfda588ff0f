import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerAvailable, startRedisServer } from '../../src/infra/redis-server.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { parsePrometheusText, seriesDeltas, sumSamples, type Sample } from '../helpers/prom-text.js';
import { until } from '../helpers/prometheus.js';
import { OTHER_QR, QR, confirmationBody, confirmations, post, settle } from '../helpers/traffic.js';

// CONTRACT §6: the counters move by exactly what the traffic caused, read from the product's own /metrics text (no
// Prometheus needed). Ground truth is the traffic itself and the sandbox's call log.

const tag = () => randomUUID().slice(0, 8);

describe('metrics move by exactly what the traffic caused', () => {
  let h: Harness;
  const scrape = async (): Promise<Sample[]> => {
    const res = await h.get('/metrics');
    expect(res.status).toBe(200);
    return parsePrometheusText(String(res.body));
  };

  beforeAll(async () => {
    // A circuit threshold no test traffic reaches: calls made while a circuit is open would not be attempts of a run.
    h = await startHarness({ env: { RETRY_ATTEMPTS: '3', CIRCUIT_THRESHOLD: '1000' } });
  });
  afterAll(() => h?.close());

  it('N successes, M rejections, K retry-then-success and the other outcomes, counted once each', async () => {
    const t = tag();
    const N = { payme: 3, uzum: 1, anor: 1 };
    const M = { payme: 2, uzum: 1 };
    const K = 2; // uzum, 503 twice then success: 2 retryable + 1 success each
    const traffic = [
      ...confirmations('payme', '', N.payme, `ok${t}`),
      ...confirmations('uzum', '', N.uzum, `ok${t}`),
      ...confirmations('anor', '', N.anor, `ok${t}`),
      ...confirmations('payme', 'reject', M.payme, t),
      ...confirmations('uzum', 'reject', M.uzum, t),
      ...confirmations('uzum', 's503x2', K, t),
      ...confirmations('anor', 's404', 1, t), // client error: dead after one call
      ...confirmations('payme', 's500', 1, t), // retryable every time: dead after RETRY_ATTEMPTS (3) calls
    ];
    const before = await scrape();
    const callsBefore = h.sandbox.calls().length;

    const accepted = await post(h, traffic);
    expect(accepted.map((a) => a.status)).toEqual(traffic.map(() => 202));
    const records = await settle(h, accepted.map((a) => a.id));

    // Enqueue outcomes other than created: a duplicate (same qr_code), a conflict (another one), an invalid body.
    const first = traffic[0]!;
    expect((await h.post('/v1/confirmations', confirmationBody(first))).status).toBe(200);
    expect((await h.post('/v1/confirmations', confirmationBody({ ...first, qrCode: OTHER_QR }))).status).toBe(409);
    const invalid = { provider: 'uzum', payment_id: `bad-${t}`, qr_code: QR.replace('ofd.soliq.uz', 'example.com') };
    expect((await h.post('/v1/confirmations', invalid)).status).toBe(400);

    // The finished counter is bumped by the worker's completed/failed event, just after Redis holds the new state.
    const finishedTotal = traffic.length;
    let after = await scrape();
    await until(
      async () => {
        after = await scrape();
        return sumSamples(after, 'fiscal_jobs_finished_total') - sumSamples(before, 'fiscal_jobs_finished_total') >= finishedTotal;
      },
      5000,
      () => 'fiscal_jobs_finished_total did not catch up with the settled records',
    );

    expect(records.filter((r) => r.state === 'succeeded')).toHaveLength(N.payme + N.uzum + N.anor + K);

    expect(seriesDeltas(before, after, 'fiscal_attempts_total')).toEqual({
      'class=success,provider=payme': N.payme,
      'class=rejected,provider=payme': M.payme,
      'class=retryable,provider=payme': 3,
      'class=success,provider=uzum': N.uzum + K,
      'class=rejected,provider=uzum': M.uzum,
      'class=retryable,provider=uzum': 2 * K,
      'class=success,provider=anor': N.anor,
      'class=client_error,provider=anor': 1,
    });
    // Every attempt is one provider call, and every provider call one attempt.
    const attempts = sumSamples(after, 'fiscal_attempts_total') - sumSamples(before, 'fiscal_attempts_total');
    expect(attempts).toBe(h.sandbox.calls().length - callsBefore);

    expect(seriesDeltas(before, after, 'fiscal_jobs_finished_total')).toEqual({
      'provider=payme,state=succeeded': N.payme,
      'provider=payme,state=dead': M.payme + 1,
      'provider=uzum,state=succeeded': N.uzum + K,
      'provider=uzum,state=dead': M.uzum,
      'provider=anor,state=succeeded': N.anor,
      'provider=anor,state=dead': 1,
    });

    expect(seriesDeltas(before, after, 'fiscal_enqueued_total')).toEqual({
      'provider=payme,result=created': N.payme + M.payme + 1,
      'provider=payme,result=duplicate': 1,
      'provider=uzum,result=created': N.uzum + M.uzum + K,
      'provider=uzum,result=invalid': 1,
      'provider=anor,result=created': N.anor + 1,
      'provider=payme,result=conflict': 1,
    });

    // One provider-latency observation per answered call, labelled with its HTTP status (a rejection is HTTP 200).
    expect(seriesDeltas(before, after, 'fiscal_provider_request_duration_seconds_count')).toEqual({
      'code=200,provider=payme': N.payme + M.payme,
      'code=500,provider=payme': 3,
      'code=200,provider=uzum': N.uzum + M.uzum + K,
      'code=503,provider=uzum': 2 * K,
      'code=200,provider=anor': N.anor,
      'code=404,provider=anor': 1,
    });
    // One end-to-end observation per finished job: the same numbers as fiscal_jobs_finished_total.
    expect(seriesDeltas(before, after, 'fiscal_job_duration_seconds_count')).toEqual(
      seriesDeltas(before, after, 'fiscal_jobs_finished_total'),
    );
    // Histograms are consistent: +Inf bucket = count, and time was spent.
    for (const name of ['fiscal_provider_request_duration_seconds', 'fiscal_job_duration_seconds']) {
      const inf = after.filter((s) => s.name === `${name}_bucket` && s.labels.le === '+Inf');
      expect(inf.reduce((sum, s) => sum + s.value, 0), name).toBe(sumSamples(after, `${name}_count`));
      expect(sumSamples(after, `${name}_sum`) - sumSamples(before, `${name}_sum`), name).toBeGreaterThan(0);
    }

    // Nothing moved later: a second scrape shows the same counters.
    const again = await scrape();
    for (const name of ['fiscal_attempts_total', 'fiscal_jobs_finished_total', 'fiscal_enqueued_total']) {
      expect(seriesDeltas(after, again, name), name).toEqual({});
    }
    // The dead letters are on the queue gauge too, read from Redis at the scrape.
    expect(sumSamples(again, 'fiscal_queue_jobs', { state: 'dead' })).toBe(M.payme + M.uzum + 2);
  });
});

describe('fiscal_redis_up is refreshed at scrape time, without /readyz', () => {
  it('is 1 while Redis answers', async () => {
    const h = await startHarness({ mode: 'api' });
    try {
      const samples = parsePrometheusText(String((await h.get('/metrics')).body));
      expect(sumSamples(samples, 'fiscal_redis_up')).toBe(1);
    } finally {
      await h.close();
    }
  });

  it.skipIf(!redisServerAvailable())('drops to 0 when Redis stops answering, and the scrape still answers in time', async () => {
    // A Redis of its own, so it can be stopped (the shared one serves the other test files).
    const redis = await startRedisServer();
    const h = await startHarness({ mode: 'api', sandbox: false, env: { REDIS_URL: redis.url } });
    const redisUp = async () => {
      const started = Date.now();
      const res = await h.get('/metrics');
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(4000); // deploy/prometheus/prometheus.yml: scrape_timeout 4s
      return sumSamples(parsePrometheusText(String(res.body)), 'fiscal_redis_up');
    };
    try {
      expect(await redisUp()).toBe(1);
      await redis.stop();
      expect(await redisUp()).toBe(0);
    } finally {
      await h.close();
      await redis.stop();
    }
  });
});
