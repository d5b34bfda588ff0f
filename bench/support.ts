import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/env.js';
import { Layout } from '../src/infra/layout.js';
import { ProviderQueues } from '../src/infra/queues.js';
import { startRedisServer, type ThrowawayRedis } from '../src/infra/redis-server.js';
import { createMetrics } from '../src/observability/metrics.js';
import { ConfirmationProducer } from '../src/producers/enqueue.js';

export const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';
export const TOKEN = 'bench-token-0123456789abcdef';

/** A fresh Redis for one scenario, so memory and commands are its own. */
export function freshRedis(): Promise<ThrowawayRedis> {
  return startRedisServer();
}

export const newPrefix = (what: string) => `bench-${what}-${randomUUID().slice(0, 6)}`;

/** Median and spread of a scenario's runs. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function stat(values: readonly number[]): Stat {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: [...values] };
}

export async function usedMemory(redisUrl: string): Promise<number> {
  const redis = new Redis(redisUrl);
  try {
    return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

export async function memoryUsage(redisUrl: string, key: string): Promise<number> {
  const redis = new Redis(redisUrl);
  try {
    return Number(await redis.memory('USAGE', key, 'SAMPLES', '0'));
  } finally {
    redis.disconnect();
  }
}

/** Puts `count` confirmations in the product's queues through its own producer (the code the API runs). */
export async function fillProduct(redisUrl: string, prefix: string, provider: 'payme' | 'uzum', count: number, id: (i: number) => string): Promise<void> {
  const config = loadConfig({ REDIS_URL: redisUrl, QUEUE_PREFIX: prefix });
  const redis = new Redis(redisUrl, { enableAutoPipelining: true });
  const queues = new ProviderQueues(redis, new Layout({ queuePrefix: prefix, cluster: false }));
  const producer = new ConfirmationProducer({ config, queues, metrics: createMetrics() });
  try {
    for (let start = 0; start < count; start += 1000) {
      const items = Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({ provider, payment_id: id(start + i), qr_code: QR }));
      const outcomes = await producer.enqueueMany(items, { within: (work) => work });
      const created = outcomes.filter((o) => o.result === 'created').length;
      if (created !== items.length) throw new Error(`fill: ${created} of ${items.length} created`);
    }
  } finally {
    await queues.close();
    redis.disconnect();
  }
}

/** Waits until a queue has `count` completed jobs; returns the seconds from the first completion to the last. */
export async function drainSeconds(redisUrl: string, prefix: string, queue: string, count: number, timeoutMs = 300_000): Promise<number> {
  const redis = new Redis(redisUrl);
  const key = `${prefix}:${queue}:completed`;
  let first: number | undefined;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const done = await redis.zcard(key);
      const now = performance.now();
      if (done > 0 && first === undefined) first = now;
      if (done >= count) return (now - (first ?? now)) / 1000 + 0.0001;
      if (Date.now() > deadline) throw new Error(`${queue}: ${done} of ${count} completed within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, done > 0 ? 20 : 5));
    }
  } finally {
    redis.disconnect();
  }
}

export const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Reads fiscal_jobs_finished_total from /metrics until `jobs` finished. */
export async function waitForFinished(url: string, jobs: number, timeoutMs = 300_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const done = [...text.matchAll(/^fiscal_jobs_finished_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    if (done >= jobs) return done;
    if (Date.now() > deadline) throw new Error(`${done} of ${jobs} finished within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
