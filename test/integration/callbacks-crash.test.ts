import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { verifyCallback } from '../../src/callbacks/signature.js';
import { freePort } from '../../src/infra/redis-server.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { startReceiver, type Receiver } from '../helpers/callback-receiver.js';
import { until } from '../helpers/prometheus.js';
import { QR, spawnServe, type ServeProcess } from '../helpers/serve-process.js';

// Issue 17: "a worker killed mid-delivery loses nothing". The real CLI delivers a callback to a receiver that holds the
// request; the process is SIGKILLed while the request is open; a new process delivers the same event again (the job's
// lock expires and BullMQ's stalled check puts it back: docs/RELIABILITY.md). The test Redis is shared, the prefix is
// this file's own, and only our own child processes are killed.

const SECRET = 'callback-crash-secret-41';

describe('a process killed mid-delivery', () => {
  let sandbox: Sandbox;
  let receiver: Receiver;
  let connection: Redis;
  const running = new Set<ServeProcess>();

  beforeAll(async () => {
    sandbox = await startSandbox();
    receiver = await startReceiver();
    connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await Promise.all([...running].map((p) => p.stop('SIGKILL')));
    await receiver?.close();
    await sandbox?.close();
    connection?.disconnect();
  });

  const serve = async (env: Record<string, string>) => {
    const p = await spawnServe({ ...env, PORT: String(await freePort()) });
    running.add(p);
    void p.exited.then(() => running.delete(p));
    return p;
  };

  it('loses nothing: the next process delivers the same event, same body, freshly signed', async () => {
    const prefix = `cbcrash-${randomUUID().slice(0, 8)}`;
    const env = {
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: prefix,
      HOST: '127.0.0.1',
      FISCALBOX_BASE_URL: sandbox.url,
      CALLBACK_URL: `${receiver.url}/fiscal/callbacks`,
      CALLBACK_SECRET: SECRET,
      // The lock is max(10 s, 2 × PROVIDER_TIMEOUT_MS): a killed delivery runs again within 15 s.
      PROVIDER_TIMEOUT_MS: '5000',
      WORKER_CONCURRENCY: '5',
      RETRY_BASE_MS: '50',
      RETRY_MAX_MS: '500',
      LOG_LEVEL: 'info',
    };
    const callbacks = new Queue('callbacks', { connection, prefix });
    try {
      receiver.respond = (_callback, index) => (index === 0 ? 'hold' : 200);
      const first = await serve(env);
      const res = await request(`${first.url}/v1/confirmations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ provider: 'anor', transaction_id: `crash-${randomUUID().slice(0, 8)}`, qr_code: QR }),
      });
      expect(res.statusCode).toBe(202);
      const { id } = (await res.body.json()) as { id: string };
      const eventId = `callbacks.${id}.succeeded.0`;

      await receiver.waitFor((got) => got.length >= 1, 20_000, 'the first delivery');
      const killed = await first.stop('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      // Killed mid-delivery: the callback is still active (its lock has not expired), nothing answered it.
      expect(await callbacks.getJobState(eventId)).toBe('active');

      const restartedAt = Date.now();
      const second = await serve(env);
      const [held, redelivered] = await receiver.waitFor((got) => got.length >= 2, 45_000, 'the delivery after the restart');
      await until(async () => (await callbacks.getJobState(eventId)) === 'completed', 15_000, () => `callback ${eventId} not completed`);

      expect(receiver.received).toHaveLength(2);
      expect(held!.eventId).toBe(eventId);
      expect(redelivered!.eventId).toBe(eventId);
      expect(redelivered!.body).toBe(held!.body);
      expect(JSON.parse(redelivered!.body)).toMatchObject({ id, state: 'succeeded' });
      expect(verifyCallback(redelivered!.body, redelivered!.signature, SECRET)).toBe(true);
      expect(redelivered!.at).toBeGreaterThan(restartedAt);
      expect((await second.stop('SIGTERM')).code).toBe(0);
      console.info(`[callbacks] SIGKILL mid-delivery: delivered again ${redelivered!.at - restartedAt} ms after the restart`);
    } finally {
      await callbacks.close();
    }
  }, 90_000);
});
