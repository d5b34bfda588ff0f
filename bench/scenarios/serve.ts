import { Pool } from 'undici';
import { startProduct, startSandboxProc } from '../procs.js';
import { QR, TOKEN, freshRedis, newPrefix, round, stat, usedMemory, waitForFinished, type Stat } from '../support.js';

export interface LatencyResult {
  offeredPerSecond: number;
  sent: number;
  p50: Stat;
  p99: Stat;
}

/**
 * Accept → first provider call: `serve` (API and workers in one process, stdout logging at info) offered confirmations
 * one at a time at ≈`perSecond`; the latency of each is the sandbox's arrival time of its call minus the moment the
 * POST was sent (one clock: the same machine).
 */
export async function benchLatency(runs: number, perSecond: number, seconds: number): Promise<LatencyResult> {
  const sandbox = await startSandboxProc();
  const redis = await freshRedis();
  const p50: number[] = [];
  const p99: number[] = [];
  let sent = 0;
  try {
    const serve = await startProduct('serve', { REDIS_URL: redis.url, QUEUE_PREFIX: newPrefix('lat'), LOG_LEVEL: 'info', API_TOKENS: TOKEN, FISCALBOX_BASE_URL: sandbox.url });
    const pool = new Pool(serve.url, { connections: 8 });
    try {
      // A deployment that has been running: one warm-up second (its code compiled, its pools open) is not counted.
      for (let run = -1; run < runs; run++) {
        const sentAt = new Map<string, number>();
        const started = performance.now();
        const total = run < 0 ? perSecond : perSecond * seconds;
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < total; i++) {
          const wait = started + (i * 1000) / perSecond - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const payment_id = `lat-${run}-${i}`;
          sentAt.set(payment_id, Date.now());
          pending.push(
            pool
              .request({ method: 'POST', path: '/v1/confirmations', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ provider: 'payme', payment_id, qr_code: QR }) })
              .then((res) => res.body.dump()),
          );
        }
        await Promise.all(pending);
        const latencies = await arrivals(sandbox.url, sentAt);
        if (run < 0) continue;
        sent += total;
        p50.push(percentile(latencies, 50));
        p99.push(percentile(latencies, 99));
        process.stderr.write(`bench latency run ${run + 1}: ${latencies.length} of ${total} calls, p50 ${p50.at(-1)} ms, p99 ${p99.at(-1)} ms\n`);
      }
    } finally {
      await pool.close();
      await serve.proc.stop();
    }
  } finally {
    await redis.stop();
    await sandbox.proc.stop();
  }
  return { offeredPerSecond: perSecond, sent, p50: stat(p50), p99: stat(p99) };
}

/** Waits until the sandbox has seen a call for every id sent, then the latency of each (ms). */
async function arrivals(sandboxUrl: string, sentAt: Map<string, number>): Promise<number[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const calls = (await (await fetch(`${sandboxUrl}/__sandbox/calls?endpoint=payme_confirm`)).json()) as { key: string; at: number }[];
    const firstCall = new Map<string, number>();
    for (const call of calls) if (sentAt.has(call.key) && !firstCall.has(call.key)) firstCall.set(call.key, call.at);
    if (firstCall.size === sentAt.size || Date.now() > deadline) return [...firstCall].map(([key, at]) => at - sentAt.get(key)!);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export interface RetentionResult {
  jobs: number;
  peakRssMiB: Stat;
  /** Redis used_memory: before, with every record done and kept, after RETENTION_DAYS and its sweep (MiB). */
  memoryMiB: { before: number; kept: number; afterRetention: number };
}

/**
 * `serve` ingesting `jobs` confirmations in batches of 1000 while its workers process them (peak RSS: issue 18's
 * ≤ 200 MB), with a retention of a few seconds: Redis memory with every record kept, and once the retention passed
 * (flat: back near where it started).
 */
export async function benchServeMemory(runs: number, jobs: number, retentionSeconds: number): Promise<RetentionResult> {
  const sandbox = await startSandboxProc();
  const rss: number[] = [];
  let memoryMiB = { before: 0, kept: 0, afterRetention: 0 };
  try {
    for (let run = 0; run < runs; run++) {
      const redis = await freshRedis();
      try {
        const serve = await startProduct('serve', {
          REDIS_URL: redis.url,
          QUEUE_PREFIX: newPrefix('serve'),
          LOG_LEVEL: 'info',
          API_TOKENS: TOKEN,
          FISCALBOX_BASE_URL: sandbox.url,
          RETENTION_DAYS: String(retentionSeconds / 86_400),
        });
        const pool = new Pool(serve.url, { connections: 2 });
        try {
          const send = async (label: string, count: number) => {
            for (let start = 0; start < count; start += 1000) {
              const items = Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({ provider: 'payme', payment_id: `${label}-${run}-${start + i}`, qr_code: QR }));
              const res = await pool.request({ method: 'POST', path: '/v1/confirmations/batch', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ items }) });
              await res.body.dump();
            }
          };
          // The baseline is a deployment that has run: its scripts loaded, BullMQ's events stream at its cap, the records
          // of a first thousand gone with the retention. What is measured is what records add, and whether it goes again.
          const sweeps = () => new Promise((r) => setTimeout(r, retentionSeconds * 2000 + 1000));
          await send('warm', 1000);
          await waitForFinished(serve.url, 1000);
          await sweeps();
          const before = await usedMemory(redis.url);
          await send('mem', jobs);
          const done = (await waitForFinished(serve.url, jobs + 1000)) - 1000;
          const kept = await usedMemory(redis.url);
          // The sweep runs every half retention: two of them after the last job aged out.
          await sweeps();
          const after = await usedMemory(redis.url);
          rss.push(serve.proc.peakRssMiB());
          const mib = (bytes: number) => round(bytes / 2 ** 20, 1);
          memoryMiB = { before: mib(before), kept: mib(kept), afterRetention: mib(after) };
          process.stderr.write(`bench serve run ${run + 1}: ${done} done, peak rss ${rss.at(-1)} MiB, redis ${JSON.stringify(memoryMiB)}\n`);
        } finally {
          await pool.close();
          await serve.proc.stop();
        }
      } finally {
        await redis.stop();
      }
    }
  } finally {
    await sandbox.proc.stop();
  }
  return { jobs, peakRssMiB: stat(rss), memoryMiB };
}
