import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { findSpec } from '../../src/providers/index.js';
import { startRedisCluster } from '../../test/helpers/redis-cluster.js';
import { startProduct, startSandboxProc } from '../procs.js';
import { QR, TOKEN, newPrefix, round, stat, waitForFinished, type Stat } from '../support.js';

export interface MasterLoad {
  port: number;
  /** used_memory growth over the run (MiB). */
  usedMemoryMiB: number;
  /** Median of instantaneous_ops_per_sec sampled while the load ran. */
  opsPerSecond: number;
}

export interface ClusterResult {
  jobs: number;
  masters: MasterLoad[][];
  /** Per run: the busiest master's figure over the idlest one's. */
  memorySpread: Stat;
  opsSpread: Stat;
}

const PROVIDERS = ['payme', 'uzum', 'anor'] as const;
/** Each provider's id field, as its registry row names it (Anor's seed calls it transaction_id). */
const ID_FIELD = Object.fromEntries(PROVIDERS.map((name) => [name, (findSpec(name) as { idField: string }).idField]));

/**
 * Issue 18's scale-out: a fresh 3-master Redis Cluster per run (redis-server, no AOF), `serve` with REDIS_CLUSTER=true
 * and no QUEUE_SHARDS, `jobs` confirmations sent in batches of 1000 spread evenly over Payme, Uzum and Anor while the
 * workers process them. Each master's INFO is sampled every 500 ms during the load; the figures are how evenly the
 * product's per-provider hash slots spread the writes.
 */
export async function benchCluster(runs: number, jobs: number): Promise<ClusterResult> {
  const sandbox = await startSandboxProc();
  const all: MasterLoad[][] = [];
  const memorySpread: number[] = [];
  const opsSpread: number[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      const cluster = await startRedisCluster(3, { durable: false });
      const clients = cluster.nodes.map((node) => new Redis(node.url));
      try {
        const info = () => Promise.all(clients.map(async (c) => parseInfo(await c.info())));
        const before = await info();
        const serve = await startProduct('serve', {
          REDIS_URL: cluster.url,
          REDIS_CLUSTER: 'true',
          QUEUE_PREFIX: newPrefix('cluster'),
          LOG_LEVEL: 'info',
          API_TOKENS: TOKEN,
          FISCALBOX_BASE_URL: sandbox.url,
        });
        const pool = new Pool(serve.url, { connections: 3 });
        const samples: number[][] = cluster.nodes.map(() => []);
        let loading = true;
        const sampler = (async () => {
          while (loading) {
            await new Promise((r) => setTimeout(r, 500));
            (await info()).forEach((node, i) => samples[i]!.push(node.ops));
          }
        })();
        try {
          const perProvider = Math.floor(jobs / PROVIDERS.length / 1000) * 1000;
          // The three providers' batches go in side by side, as three sales systems would send them.
          await Promise.all(
            PROVIDERS.map(async (provider) => {
              for (let start = 0; start < perProvider; start += 1000) {
                const items = Array.from({ length: 1000 }, (_, i) => ({ provider, [ID_FIELD[provider]!]: `cl-${run}-${start + i}`, qr_code: QR }));
                const res = await pool.request({ method: 'POST', path: '/v1/confirmations/batch', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ items }) });
                const text = await res.body.text();
                if (res.statusCode !== 200 || text.includes('"error"')) throw new Error(`batch answered ${res.statusCode}: ${text.slice(0, 300)}`);
              }
            }),
          );
          await waitForFinished(serve.url, perProvider * PROVIDERS.length);
        } finally {
          loading = false;
          await sampler;
          await pool.close();
          await serve.proc.stop();
        }
        const after = await info();
        const masters = cluster.nodes.map((node, i) => ({
          port: node.port,
          usedMemoryMiB: round((after[i]!.usedMemory - before[i]!.usedMemory) / 2 ** 20, 2),
          opsPerSecond: stat(samples[i]!.filter((ops) => ops > 0)).median,
        }));
        all.push(masters);
        memorySpread.push(round(spread(masters.map((m) => m.usedMemoryMiB)), 2));
        opsSpread.push(round(spread(masters.map((m) => m.opsPerSecond)), 2));
        process.stderr.write(`bench cluster run ${run + 1}: ${JSON.stringify(masters)}\n`);
      } finally {
        clients.forEach((c) => c.disconnect());
        await cluster.stop();
      }
    }
  } finally {
    await sandbox.proc.stop();
  }
  return { jobs, masters: all, memorySpread: stat(memorySpread), opsSpread: stat(opsSpread) };
}

function parseInfo(text: string): { usedMemory: number; ops: number } {
  return { usedMemory: Number(/used_memory:(\d+)/.exec(text)?.[1] ?? 0), ops: Number(/instantaneous_ops_per_sec:(\d+)/.exec(text)?.[1] ?? 0) };
}

const spread = (values: number[]) => Math.max(...values) / Math.max(Math.min(...values), 1e-9);
