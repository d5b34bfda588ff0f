import type { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { until } from '../helpers/wait.js';

/**
 * Issue 16: replaying a great many dead letters goes in chunks, reports progress and never holds the event loop, so
 * the API of the process that replays keeps answering. 10,000 real dead letters (the sandbox refuses each once),
 * replayed by an `api` process (no workers, so what is measured is the replay alone). Figures: docs/OPERATIONS.md.
 */

const N = Number(process.env.FISCAL_DEAD_N ?? 10_000);
const BATCH = 1000;
const TICK_MS = 10;

describe(`replaying ${N} dead letters`, () => {
  let maker: Harness | undefined;
  let h: Harness;
  const sum = async (count: (queue: Queue) => Promise<number>) => (await Promise.all(h.app.queues.all().map(count))).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    // Made by a serving process (workers), then replayed by an `api` process on the same QUEUE_PREFIX.
    maker = await startHarness({ env: { WORKER_CONCURRENCY: '100', PROVIDER_TIMEOUT_MS: '5000', CIRCUIT_THRESHOLD: '100000' } });
    const tag = randomUUID().slice(0, 8);
    const providers = ['payme', 'uzum', 'anor', 'click'] as const;
    for (let start = 0; start < N; start += BATCH) {
      const items = Array.from({ length: Math.min(BATCH, N - start) }, (_, i) => {
        const provider = providers[(start + i) % providers.length]!;
        return { provider, [provider === 'anor' ? 'transaction_id' : 'payment_id']: `reject_bulk${start + i}-${tag}`, qr_code: QR };
      });
      const res = await maker.post('/v1/confirmations/batch', { items });
      expect(res.status).toBe(200);
    }
    const failed = () => Promise.all(maker!.app.queues.all().map((q) => q.getFailedCount())).then((c) => c.reduce((a, b) => a + b, 0));
    await until(`${N} dead letters`, async () => (await failed()) === N, 120_000);
    const prefix = maker.prefix;
    await maker.close();
    maker = undefined;
    h = await startHarness({ mode: 'api', env: { QUEUE_PREFIX: prefix } });
  }, 180_000);
  afterAll(async () => {
    await maker?.close();
    await h?.close();
  });

  it('goes in chunks with progress, the event loop never held, the API answering meanwhile', { timeout: 120_000 }, async () => {
    const progress: [number, number][] = [];
    let lastTick = performance.now();
    let maxGapMs = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      maxGapMs = Math.max(maxGapMs, now - lastTick);
      lastTick = now;
    }, TICK_MS);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    // A client of this process's API during the replay: each answer's latency.
    let replaying = true;
    const latencies: number[] = [];
    const client = (async () => {
      while (replaying) {
        const started = performance.now();
        const res = await request(`${h.url}/healthz`);
        await res.body.dump();
        latencies.push(performance.now() - started);
      }
    })();

    const started = performance.now();
    const report = await h.app.deadLetters.replay({ all: true, actor: { via: 'cli', name: 'bulk-test' }, onProgress: (done, total) => progress.push([done, total]) });
    const seconds = (performance.now() - started) / 1000;
    replaying = false;
    await client;
    clearInterval(ticker);
    delay.disable();

    expect(report).toEqual({ replayed: N, skipped: [] });
    expect(await sum((q) => q.getFailedCount())).toBe(0);
    expect(await sum((q) => q.getWaitingCount())).toBe(N);
    // Chunks of 200, each reported: done grows to N, the total known from the start.
    expect(progress.length).toBeGreaterThanOrEqual(N / 200);
    expect(progress.every(([, total]) => total === N)).toBe(true);
    expect(progress.map(([done]) => done)).toEqual([...progress.map(([done]) => done)].sort((a, b) => a - b));
    expect(progress.at(-1)).toEqual([N, N]);
    // The loop kept turning: the API answered all along, and no timer waited anywhere near the replay's length.
    expect(latencies.length).toBeGreaterThan(progress.length);
    expect(maxGapMs).toBeLessThan(Math.max(1000, (seconds * 1000) / 10));
    const audit = h.logs.audits('replay');
    expect(audit).toEqual([expect.objectContaining({ actor: { via: 'cli', name: 'bulk-test' }, scope: 'all', requested: N, replayed: N, skipped: 0 })]);
    expect(audit[0]!.ids).toHaveLength(100);

    const sorted = [...latencies].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(1);
    process.stdout.write(
      `dead-letter replay: ${N} in ${seconds.toFixed(2)} s (${Math.round(N / seconds)}/s), ${progress.length} chunks; ` +
        `timer gap max ${maxGapMs.toFixed(1)} ms; loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms; ` +
        `/healthz meanwhile ${latencies.length} answers, p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${sorted.at(-1)!.toFixed(1)} ms\n`,
    );
  });
});
