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
        let bareSeconds = 0;
        let bareWaiting = 0;
        let bareKept = 0;
        let bareBefore = 0;
        let bareHash = 0;
        const runBare = async () => {
          const barePrefix = newPrefix('bare');
          bareBefore = await usedMemory(redis.url);
          await fillBare(redis.url, barePrefix, options.jobs, id('b', run));
          bareWaiting = await usedMemory(redis.url);
          bareHash = await memoryUsage(redis.url, `${barePrefix}:payme:payme.${id('b', run)(0)}`);
          const bareProc = startBare('worker.mjs', { REDIS_URL: redis.url, PREFIX: barePrefix, QUEUE: 'payme', SANDBOX_URL: sandbox.url, CONCURRENCY: String(options.concurrency) });
          bareSeconds = await drainSeconds(redis.url, barePrefix, 'payme', options.jobs);
          await bareProc.stop();
          bareKept = await usedMemory(redis.url);
        };
        let productSeconds = 0;
        let productWaiting = 0;
        let productKept = 0;
        let productBefore = 0;
        let productHash = 0;
        const runProduct = async () => {
          const prefix = newPrefix('worker');
          productBefore = await usedMemory(redis.url);
          await fillProduct(redis.url, prefix, 'payme', options.jobs, id('p', run));
          productWaiting = await usedMemory(redis.url);
          productHash = await memoryUsage(redis.url, `${prefix}:payme:payme.${id('p', run)(0)}`);
          const worker = await startProduct(
            'worker',
            { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, LOG_LEVEL: options.logLevel, WORKER_CONCURRENCY: String(options.concurrency), FISCALBOX_BASE_URL: sandbox.url, PROVIDER_TIMEOUT_MS: '15000' },
            ['--providers', 'payme'],
          );
          productSeconds = await drainSeconds(redis.url, prefix, 'payme', options.jobs);
          rss.push(worker.proc.peakRssMiB());
          logs.push(worker.proc.stdoutBytes());
          await worker.proc.stop();
          productKept = await usedMemory(redis.url);
        };
        if (run % 2 === 0) {
          await runBare();
          await runProduct();
        } else {
          await runProduct();
          await runBare();
        }

        bare.push(round(options.jobs / bareSeconds));
        product.push(round(options.jobs / productSeconds));
        ratio.push(round(product.at(-1)! / bare.at(-1)!, 3));
        process.stderr.write(`bench worker ${options.concurrency}/${options.latencyMs}ms run ${run + 1}: bare ${bare.at(-1)} jobs/s, product ${product.at(-1)} jobs/s (${(ratio.at(-1)! * 100).toFixed(1)} %), rss ${rss.at(-1)} MiB\n`);
        memory ??= {
          bareWaitingBytes: round((bareWaiting - bareBefore) / options.jobs),
          productWaitingBytes: round((productWaiting - productBefore) / options.jobs),
          bareJobHash: bareHash,
          productJobHash: productHash,
          bareKeptBytes: round((bareKept - bareBefore) / options.jobs),
          productKeptBytes: round((productKept - productBefore) / options.jobs),
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

