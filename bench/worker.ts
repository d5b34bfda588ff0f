import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { QR, startStack } from './stack.js';

export interface WorkerBenchResult {
  name: string;
  jobs: number;
  seconds: number;
  jobs_per_s: number;
}

const CONCURRENCY = 50;

async function fill(queue: Queue, jobs: number, data: (i: number) => object): Promise<void> {
  for (let start = 0; start < jobs; start += 1000) {
    const count = Math.min(1000, jobs - start);
    await queue.addBulk(Array.from({ length: count }, (_, i) => ({ name: 'confirm', data: data(start + i), opts: { jobId: `j-${start + i}`, removeOnComplete: true } })));
  }
}

async function drain(queue: Queue, jobs: number): Promise<void> {
  for (;;) {
    const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed');
    if ((counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The product's worker against the floor it is measured by: a bare BullMQ worker doing the same undici POST to the
 * same sandbox and parsing the JSON answer, on the same Redis, same concurrency, one after the other.
 */
export async function benchWorker(jobs: number): Promise<WorkerBenchResult[]> {
  const stack = await startStack('api', { WORKER_CONCURRENCY: String(CONCURRENCY) });
  const results: WorkerBenchResult[] = [];
  try {
    // bare BullMQ + undici
    const connection = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    const prefix = `bare-${randomUUID().slice(0, 6)}`;
    const bareQueue = new Queue('payme', { connection, prefix });
    await fill(bareQueue, jobs, (i) => ({ payment_id: `bare-${i}`, qr_code: QR }));
    const pool = new Pool(stack.sandbox.url, { connections: CONCURRENCY });
    let started = performance.now();
    const bare = new Worker(
      'payme',
      async (job) => {
        const res = await pool.request({ method: 'POST', path: '/payment/payme_confirm', headers: { 'content-type': 'application/json' }, body: JSON.stringify(job.data) });
        return JSON.parse(await res.body.text()).data;
      },
      { connection, prefix, concurrency: CONCURRENCY },
    );
    await drain(bareQueue, jobs);
    results.push({ name: 'bare BullMQ + undici worker', jobs, seconds: round((performance.now() - started) / 1000), jobs_per_s: 0 });
    await bare.close();
    await pool.close();
    await bareQueue.close();
    connection.disconnect();

    // the product: enqueue through the producer, run its WorkerHost
    const producer = stack.app.producer!;
    for (let start = 0; start < jobs; start += 1000) {
      const count = Math.min(1000, jobs - start);
      await producer.enqueueMany(Array.from({ length: count }, (_, i) => ({ provider: 'payme', payment_id: `w-${start + i}`, qr_code: QR })));
    }
    const { WorkerHost } = await import('../src/workers/worker-host.js');
    const { createLogger } = await import('../src/observability/logger.js');
    const { Writable } = await import('node:stream');
    const workerConnection = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    const host = new WorkerHost({
      config: stack.app.config,
      connection: workerConnection,
      queues: stack.app.queues,
      logger: createLogger('info', new Writable({ write: (_c, _e, done) => done() })),
      metrics: stack.app.metrics,
      processors: { confirmations: producer },
    });
    started = performance.now();
    host.start(['payme']);
    await drain(stack.app.queues.get('payme'), jobs);
    results.push({ name: 'fiscal-worker worker (payme)', jobs, seconds: round((performance.now() - started) / 1000), jobs_per_s: 0 });
    await host.close(5000);
    workerConnection.disconnect();
  } finally {
    await stack.close();
  }
  for (const r of results) r.jobs_per_s = Math.round(r.jobs / r.seconds);
  return results;
}

const round = (seconds: number) => Math.round(seconds * 100) / 100;
