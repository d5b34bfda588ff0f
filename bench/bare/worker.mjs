// The floor the worker is measured against (issue 18): a BullMQ worker POSTing the job to the provider with undici
// and parsing the JSON answer — no classification, history, circuit, metrics or logs. Same node_modules as the
// product. Env: REDIS_URL, PREFIX, QUEUE, SANDBOX_URL, CONCURRENCY.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'undici';

const concurrency = Number(process.env.CONCURRENCY ?? 50);
const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
const pool = new Pool(process.env.SANDBOX_URL, { connections: concurrency });
const worker = new Worker(
  process.env.QUEUE,
  async (job) => {
    const res = await pool.request({ method: 'POST', path: '/payment/payme_confirm', headers: { 'content-type': 'application/json' }, body: JSON.stringify(job.data) });
    return (await res.body.json()).data;
  },
  { connection, prefix: process.env.PREFIX, concurrency, removeOnComplete: { age: 3600 } },
);
worker.on('ready', () => process.stdout.write('{"msg":"bare worker ready"}\n'));
process.once('SIGTERM', async () => {
  await worker.close();
  await pool.close();
  connection.disconnect();
  process.exit(0);
});
