// The floor the batch API is measured against (issue 18): BullMQ addBulk of 1000 jobs with ids, one batch after the
// other, straight into Redis. Env: REDIS_URL, PREFIX, BATCHES, FROM (the first id number). Prints {jobs, seconds}.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';
const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
const queue = new Queue('uzum', { connection, prefix: process.env.PREFIX });
const batches = Number(process.env.BATCHES ?? 20);
let next = Number(process.env.FROM ?? 0);
const started = performance.now();
for (let b = 0; b < batches; b++) {
  await queue.addBulk(Array.from({ length: 1000 }, () => {
    const payment_id = `bulk-${next++}`;
    return { name: 'confirm', data: { provider: 'uzum', payment_id, qr_code: QR }, opts: { jobId: `uzum.${payment_id}` } };
  }));
}
const seconds = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ jobs: batches * 1000, seconds })}\n`);
await queue.close();
connection.disconnect();
