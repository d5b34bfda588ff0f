import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startBare, startProduct, startSandboxProc } from '../procs.js';
import { QR, drainSeconds, fillProduct, freshRedis, memoryUsage, newPrefix, round, stat, usedMemory, type Stat } from '../support.js';

export interface WorkerResult {
  bare: Stat;
  product: Stat;
  /** Each run's product / bare. */
  ratio: Stat;
  productPeakRssMiB: Stat;
  productLogBytes: Stat;
}

export interface WorkerOptions {
  runs: number;
  jobs: number;
  concurrency: number;
  /** Sandbox latency per call (its `slow<ms>` directive), 0 for none. */
  latencyMs: number;
  logLevel: string;
}

export interface MemoryResult {
  bareWaitingBytes: number;
  productWaitingBytes: number;
  bareJobHash: number;
  productJobHash: number;
  bareKeptBytes: number;
  productKeptBytes: number;
}

/**
 * The worker side by side with a bare BullMQ + undici worker doing the same POST to the same sandbox process, same
 * concurrency, `jobs` pre-queued confirmations each, on a fresh Redis per run, runs alternating. The product is the
 * built `fiscal-worker worker --providers payme` with its logging on stdout at `logLevel`. jobs/s counts from the first
 * completion to the last (process start-up is not the worker's throughput). The first run also gives the memory
 * figures: Redis bytes per waiting job and per completed job kept for retention, for both.
 */
export async function benchWorker(options: WorkerOptions): Promise<{ result: WorkerResult; memory: MemoryResult }> {
  const sandbox = await startSandboxProc();
  const bare: number[] = [];
  const product: number[] = [];
  const ratio: number[] = [];
  const rss: number[] = [];
  const logs: number[] = [];
  let memory: MemoryResult | undefined;
  const id = (who: string, run: number) => (i: number) => `${options.latencyMs ? `slow${options.latencyMs}_` : ''}${who}${run}-${i}`;
  try {
    for (let run = 0; run < options.runs; run++) {
      const redis = await freshRedis();
      try {
        // Who goes first alternates, so neither always meets the Redis the other has filled.
        const runBare = () =>
          measureSide(redis.url, newPrefix('bare'), options.jobs, id('b', run), fillBare, async (prefix) =>
            startBare('worker.mjs', { REDIS_URL: redis.url, PREFIX: prefix, QUEUE: 'payme', SANDBOX_URL: sandbox.url, CONCURRENCY: String(options.concurrency) }),
          );
        const runProduct = () =>
          measureSide(redis.url, newPrefix('worker'), options.jobs, id('p', run), (url, prefix, count, ids) => fillProduct(url, prefix, 'payme', count, ids), async (prefix) => {
            const worker = await startProduct(
              'worker',
              { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, LOG_LEVEL: options.logLevel, WORKER_CONCURRENCY: String(options.concurrency), FISCALBOX_BASE_URL: sandbox.url, PROVIDER_TIMEOUT_MS: '15000' },
              ['--providers', 'payme'],
            );
            return {
              stop: async () => {
                rss.push(worker.proc.peakRssMiB());
                logs.push(worker.proc.stdoutBytes());
                await worker.proc.stop();
              },
            };
          });
        let bareSide: SideFigures;
        let productSide: SideFigures;
        if (run % 2 === 0) {
          bareSide = await runBare();
          productSide = await runProduct();
        } else {
          productSide = await runProduct();
          bareSide = await runBare();
        }

        bare.push(round(options.jobs / bareSide.seconds));
        product.push(round(options.jobs / productSide.seconds));
        ratio.push(round(product.at(-1)! / bare.at(-1)!, 3));
        process.stderr.write(`bench worker ${options.concurrency}/${options.latencyMs}ms run ${run + 1}: bare ${bare.at(-1)} jobs/s, product ${product.at(-1)} jobs/s (${(ratio.at(-1)! * 100).toFixed(1)} %), rss ${rss.at(-1)} MiB\n`);
        memory ??= {
          bareWaitingBytes: bareSide.waitingBytes,
          productWaitingBytes: productSide.waitingBytes,
          bareJobHash: bareSide.jobHash,
          productJobHash: productSide.jobHash,
          bareKeptBytes: bareSide.keptBytes,
          productKeptBytes: productSide.keptBytes,
        };
      } finally {
        await redis.stop();
      }
    }
  } finally {
    await sandbox.proc.stop();
  }
  return {
    result: { bare: stat(bare), product: stat(product), ratio: stat(ratio), productPeakRssMiB: stat(rss), productLogBytes: stat(logs) },
    memory: memory!,
  };
}

interface SideFigures {
  seconds: number;
  /** Redis bytes per job, waiting and then completed and kept. */
  waitingBytes: number;
  keptBytes: number;
  /** `MEMORY USAGE` of the first job's hash. */
  jobHash: number;
}

/**
 * One side of a run: its jobs queued under `prefix`, Redis measured before, with them waiting and once drained by the
 * worker `start` starts (stopped before the last measure, so what it keeps is what retention keeps).
 */
async function measureSide(
  redisUrl: string,
  prefix: string,
  jobs: number,
  id: (i: number) => string,
  fill: (redisUrl: string, prefix: string, jobs: number, id: (i: number) => string) => Promise<void>,
  start: (prefix: string) => Promise<{ stop(): Promise<void> }>,
): Promise<SideFigures> {
  const before = await usedMemory(redisUrl);
  await fill(redisUrl, prefix, jobs, id);
  const waiting = await usedMemory(redisUrl);
  const jobHash = await memoryUsage(redisUrl, `${prefix}:payme:payme.${id(0)}`);
  const worker = await start(prefix);
  const seconds = await drainSeconds(redisUrl, prefix, 'payme', jobs);
  await worker.stop();
  const kept = await usedMemory(redisUrl);
  return { seconds, waitingBytes: round((waiting - before) / jobs), keptBytes: round((kept - before) / jobs), jobHash };
}

/** The bare side's jobs: BullMQ add with a job id, the request's fields as data. */
async function fillBare(redisUrl: string, prefix: string, jobs: number, id: (i: number) => string): Promise<void> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('payme', { connection, prefix });
  try {
    for (let start = 0; start < jobs; start += 1000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1000, jobs - start) }, (_, i) => {
          const payment_id = id(start + i);
          return { name: 'confirm', data: { payment_id, qr_code: QR }, opts: { jobId: `payme.${payment_id}` } };
        }),
      );
    }
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

