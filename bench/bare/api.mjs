// The floor the enqueue API is measured against (issue 18): fastify + zod + BullMQ add(jobId), nothing else — no
// auth, no idempotency answer, no logs. Same node_modules as the product. Env: REDIS_URL, PREFIX, PORT.
import Fastify from 'fastify';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';

const Body = z.object({ provider: z.enum(['payme', 'uzum', 'anor', 'click']), payment_id: z.string().min(1).max(128), qr_code: z.url() });
const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
const queues = new Map();
const queueOf = (name) => {
  let queue = queues.get(name);
  if (!queue) queues.set(name, (queue = new Queue(name, { connection, prefix: process.env.PREFIX })));
  return queue;
};

const app = Fastify({ logger: false });
app.post('/v1/confirmations', async (request, reply) => {
  const parsed = Body.safeParse(request.body);
  if (!parsed.success) return reply.status(400).send({ error: parsed.error.issues });
  const { provider, payment_id } = parsed.data;
  await queueOf(provider).add('confirm', parsed.data, { jobId: `${provider}.${payment_id}` });
  return reply.status(202).send({ id: `${provider}.${payment_id}`, state: 'queued' });
});
app.get('/healthz', async () => ({ status: 'ok' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.once('SIGTERM', async () => {
  await app.close();
  await Promise.all([...queues.values()].map((q) => q.close()));
  connection.disconnect();
  process.exit(0);
});
