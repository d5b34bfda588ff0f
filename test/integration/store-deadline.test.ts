import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRedisServer, type ThrowawayRedis } from '../../src/infra/redis-server.js';
import { paymentRecordId } from '../../src/producers/payments.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { startRedisGate, type CommandMatch, type RedisCommand, type RedisGate } from '../helpers/redis-gate.js';
import { newCode, uid } from '../helpers/ids.js';

/**
 * CONTRACT §3: "While Redis does not answer, requests that would store something get 503 (code unavailable) within 5
 * seconds of arrival, whatever steps they take". One deadline per /v1 request (src/http/deadline.ts), from arrival,
 * over every step: a confirmation's enqueue and a duplicate's read-back; a charge's or receipt's claim, transaction and
 * read. Measured from the client's send, so the time is at least the time since arrival. Figures: docs/RELIABILITY.md.
 */

const CONTRACT_MS = 5000;
const MERCHANT = '542088';
const FREEDOMPAY_ENV = { FREEDOMPAY_MERCHANT_ID: MERCHANT, FREEDOMPAY_SECRET_KEY: 'test-secret' };

type Answer = Awaited<ReturnType<Harness['post']>>;

/** One request path and how to make it: `prepare` runs before Redis stops answering (a duplicate's first copy). */
interface StorePath {
  name: string;
  /** The record the request stores or reads. */
  id: string;
  /** The command that ends the storing step: a charge's or receipt's EXEC, a confirmation's intake script. */
  stored(h: Harness): CommandMatch;
  prepare?(h: Harness): Promise<void>;
  send(h: Harness): Promise<Answer>;
}

/** A confirmation's intake is one script (producers/confirm-script.ts): the EVALSHA that names the record's job hash. */
const intakeOf =
  (recordId: string) =>
  (h: Harness): CommandMatch => {
    const jobKey = h.app.queues.jobKey(recordId);
    return (command) => command[0]!.startsWith('eval') && command.includes(jobKey);
  };
/** A charge or receipt is added in a MULTI (producers/money-intake.ts). */
const transaction = () => (command: RedisCommand) => command[0] === 'exec';

function confirmationPath(): StorePath {
  const body = { provider: 'payme', payment_id: `new-${uid()}`, qr_code: QR };
  const id = `payme.${body.payment_id}`;
  return { name: 'POST /v1/confirmations, new (enqueue)', id, stored: intakeOf(id), send: (h) => h.post('/v1/confirmations', body) };
}

function duplicatePath(): StorePath {
  const body = { provider: 'payme', payment_id: `dup-${uid()}`, qr_code: QR };
  return {
    name: 'POST /v1/confirmations, duplicate (enqueue, read-back)',
    id: `payme.${body.payment_id}`,
    stored: intakeOf(`payme.${body.payment_id}`),
    prepare: async (h) => expect((await h.post('/v1/confirmations', body)).status).toBe(202),
    send: (h) => h.post('/v1/confirmations', body),
  };
}

function batchPath(): StorePath {
  const duplicate = { provider: 'payme', payment_id: `bdup-${uid()}`, qr_code: QR };
  const fresh = { provider: 'payme', payment_id: `bnew-${uid()}`, qr_code: QR };
  return {
    name: 'POST /v1/confirmations/batch with a duplicate (enqueue, read-back)',
    id: `payme.${duplicate.payment_id}`,
    // The intake sends the items in their order: the new one's script ends the step.
    stored: intakeOf(`payme.${fresh.payment_id}`),
    prepare: async (h) => expect((await h.post('/v1/confirmations', duplicate)).status).toBe(202),
    send: (h) => h.post('/v1/confirmations/batch', { items: [duplicate, fresh] }),
  };
}

function chargePath(): StorePath {
  const key = `order-${uid()}`;
  const body = { amount: 1000, qr_code: newCode() };
  // wait=0: no worker runs here, so the first read is the last; it is still under the request's deadline.
  return {
    name: 'POST /v1/payments/payme (claim, transaction, read)',
    id: paymentRecordId(key),
    stored: transaction,
    send: (h) => h.post('/v1/payments/payme?wait=0', body, { 'idempotency-key': key }),
  };
}

function receiptPath(): StorePath {
  const paymentId = `rcpt-${uid()}`;
  const body = {
    receipt_format: 'ru_1_05',
    payment_id: paymentId,
    operation_type: 'sell',
    positions: [{ price: 100.0, name: 'Товар', quantity: 2.0, vat_code: 'vat_20', payment_method: 'full_payment', payment_object: 'goods' }],
    settlements: [{ type: 'cashless', sum: 200.0 }],
  };
  return { name: 'POST /v1/receipts/freedompay (claim, transaction, read)', id: `freedompay.sell-${paymentId}`, stored: transaction, send: (h) => h.post('/v1/receipts/freedompay', body) };
}

/** Every path once, unfrozen: Redis then knows every script (a NOSCRIPT round trip would be a step of its own). */
async function warmUp(h: Harness): Promise<void> {
  for (const path of [confirmationPath(), duplicatePath(), batchPath(), chargePath(), receiptPath()]) {
    await path.prepare?.(h);
    expect((await path.send(h)).status, path.name).toBeLessThan(300);
  }
}

const expectUnavailable = (name: string, res: Answer, ms: number) => {
  expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(503);
  expect(res.body.error.code, name).toBe('unavailable');
  expect(ms, name).toBeLessThan(CONTRACT_MS);
};

describe('Redis frozen (SIGSTOP) when the request arrives', () => {
  let redis: ThrowawayRedis;
  let h: Harness;
  beforeAll(async () => {
    redis = await startRedisServer();
    h = await startHarness({ mode: 'api', sandbox: false, env: { REDIS_URL: redis.url, ...FREEDOMPAY_ENV } });
    await warmUp(h);
  });
  afterAll(async () => {
    redis?.process.kill('SIGCONT');
    await h?.close();
    await redis?.stop();
  });

  it('every store path answers 503 unavailable within 5 s of arrival', async () => {
    const paths = [confirmationPath(), duplicatePath(), batchPath(), chargePath(), receiptPath()];
    for (const path of paths) await path.prepare?.(h);
    redis.process.kill('SIGSTOP');
    let answers: { path: StorePath; res: Answer; ms: number }[];
    try {
      answers = await Promise.all(
        paths.map(async (path) => {
          const started = Date.now();
          const res = await path.send(h);
          return { path, res, ms: Date.now() - started };
        }),
      );
    } finally {
      redis.process.kill('SIGCONT');
    }
    process.stdout.write(`503 with Redis frozen from arrival (ms) ${JSON.stringify(Object.fromEntries(answers.map((a) => [a.path.name, a.ms])))}\n`);
    for (const { path, res, ms } of answers) expectUnavailable(path.name, res, ms);
    // Redis is back: the same requests are answered (what a frozen command stored late is found, not stored twice).
    for (const path of paths) expect([200, 202], path.name).toContain((await path.send(h)).status);
  }, 30_000);
});

/** A freeze that starts between two steps of a request, or steps that are slow before it: `after` ends each step. */
interface Step {
  /** The command that ends the step, for this request in this process. */
  after: (h: Harness) => CommandMatch;
  /** Redis takes this long to answer the step (ms) before it goes through. */
  slowMs?: number;
}

const claimed = () => (command: RedisCommand) => command[0]!.startsWith('eval') && command.some((arg) => arg.includes(':tomb:'));

describe('Redis freezes between the steps of a request', () => {
  let warm: Harness;
  beforeAll(async () => {
    warm = await startHarness({ mode: 'api', sandbox: false, env: FREEDOMPAY_ENV });
    await warmUp(warm);
  });
  afterAll(() => warm?.close());

  /**
   * Runs `path` through its own gate in front of the test Redis: each step goes through (after `slowMs`, if given) and
   * Redis freezes right after the last one. Then Redis answers again and the same request is repeated.
   */
  async function freezeAfter(path: StorePath, steps: Step[]): Promise<{ name: string; ms: number }> {
    const gate: RedisGate = await startRedisGate(inject('redisUrl'));
    const h = await startHarness({ mode: 'api', sandbox: false, env: { REDIS_URL: gate.url, ...FREEDOMPAY_ENV } });
    try {
      await warmUp(h); // this process's own first round trips (connection set-up) are not steps of the request
      await path.prepare?.(h);
      if (steps[0]?.slowMs) gate.holdNow();
      const started = Date.now();
      const answer = path.send(h);
      for (const step of steps) {
        if (step.slowMs) {
          await gate.holding();
          await sleep(step.slowMs); // Redis being slow, not a wait for an event
        }
        const through = gate.holdAfter(step.after(h));
        gate.release();
        await through;
      }
      const res = await answer;
      const ms = Date.now() - started;
      expectUnavailable(path.name, res, ms);
      gate.release();
      const repeat = await path.send(h);
      expect([200, 202], `${path.name}, repeated: ${JSON.stringify(repeat.body)}`).toContain(repeat.status);
      const id = (repeat.body.id ?? repeat.body.results?.[0]?.id) as string;
      expect(id).toBe(path.id);
      return { name: path.name, ms };
    } finally {
      gate.release();
      await h.close();
      await gate.close();
    }
  }

  it('right after a step: 503 unavailable within 5 s of arrival, and the repeat finds what was stored', async () => {
    const cases: [StorePath, Step[], string][] = [
      ...[duplicatePath(), batchPath()].map((path): [StorePath, Step[], string] => [path, [{ after: path.stored }], 'after the enqueue']),
      ...[chargePath(), receiptPath()].map((path): [StorePath, Step[], string] => [path, [{ after: claimed }], 'after the claim']),
      ...[chargePath(), receiptPath()].map((path): [StorePath, Step[], string] => [path, [{ after: claimed }, { after: path.stored }], 'after the transaction']),
    ];
    const measured = await Promise.all(cases.map(([path, steps]) => freezeAfter(path, steps)));
    process.stdout.write(`503 with Redis frozen between steps (ms) ${JSON.stringify(measured.map((m, i) => [`${m.name}, ${cases[i]![2]}`, m.ms]))}\n`);
  }, 30_000);

  it('after slow steps the deadline still counts from arrival: 503 within 5 s, not a timeout per step', async () => {
    // Per step, each read would get its own commandTimeout (4 s): 3 s + 4 s = 7 s for these.
    const cases: [StorePath, Step[]][] = [
      ...[duplicatePath(), batchPath()].map((path): [StorePath, Step[]] => [path, [{ after: path.stored, slowMs: 3000 }]]),
      ...[chargePath(), receiptPath()].map((path): [StorePath, Step[]] => [path, [{ after: claimed, slowMs: 1500 }, { after: path.stored, slowMs: 1500 }]]),
    ];
    const measured = await Promise.all(cases.map(([path, steps]) => freezeAfter(path, steps)));
    process.stdout.write(`503 with Redis slow 3 s, then frozen (ms) ${JSON.stringify(measured.map((m) => [m.name, m.ms]))}\n`);
    for (const { name, ms } of measured) expect(ms, name).toBeGreaterThanOrEqual(3000);
  }, 30_000);
});
