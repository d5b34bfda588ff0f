import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PROVIDERS } from '../../src/domain/provider.js';
import { createHttpServer } from '../../src/http/server.js';
import { closeRedis, createRedis, UnavailableError } from '../../src/infra/redis.js';
import { freePort, startRedisServer, type ThrowawayRedis } from '../../src/infra/redis-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { CLIENT_PHONE } from '../../src/sandbox/fixtures.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { startReceiver, type Receiver } from '../helpers/callback-receiver.js';
import { LogCapture, QR, startHarness, type Harness } from '../helpers/harness.js';
import { dumpKeys } from '../helpers/reliability.js';
import { uid } from '../helpers/ids.js';

/**
 * CONTRACT §2 "secrets never appear in logs, errors or metrics", and personal data never in clear (issue 8): real
 * traffic through every flow, successes and failures of every kind, with known secrets configured; then every place
 * the product writes to is searched for them: its logs (at trace level), /metrics, every API answer including errors
 * and Bull Board's API, and every Redis key under the test's prefix, whatever its type.
 */

const SECRETS = {
  api_token: `api-token-${randomUUID()}`,
  second_api_token: `api-token2-${randomUUID()}`,
  board_password: `board-pw-${randomUUID()}`,
  fiscalbox_token: `fbx-token-${randomUUID()}`,
  freedompay_secret_key: `fp-key-${randomUUID()}`,
  callback_secret: `cb-secret-${randomUUID()}`,
  phone: CLIENT_PHONE, // seeds 001 and 003: what Uzum and Payme Go answer as client_phone_number
};
const MERCHANT = '542088';
/**
 * Personal data the product must keep on the job to do its work (the customer's Payme code to charge it, seed 003; a
 * receipt's customer phone to send it, seed 004), so it is in Redis; everywhere else (logs, metrics, API answers,
 * Bull Board) it never appears in clear.
 */
const KEPT_ON_JOB = {
  payme_code: `5050${String(Date.now()).slice(-9)}${randomUUID().replace(/\D/g, '').padEnd(7, '7').slice(0, 7)}`,
  customer_phone: `99890${String(Date.now()).slice(-7)}`,
};

function leaks(text: string, secrets: Record<string, string> = { ...SECRETS, ...KEPT_ON_JOB }): string[] {
  return Object.entries(secrets)
    .filter(([, secret]) => text.includes(secret) || text.includes(Buffer.from(secret).toString('base64')))
    .map(([name]) => name);
}

describe('secrets and personal data stay out of logs, metrics, errors and Redis', () => {
  let sandbox: Sandbox;
  let receiver: Receiver;
  let h: Harness;
  /** Every HTTP answer the test got, as text: records, errors, the board's API. */
  const answers: string[] = [];
  /** The board's answers among them. */
  const boardAnswers: string[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox({ fiscalboxToken: SECRETS.fiscalbox_token, freedompay: { merchantId: MERCHANT, secretKey: SECRETS.freedompay_secret_key } });
    receiver = await startReceiver(); // every record's end is called back (issue 17), signed with the callback secret
    h = await startHarness({
      sandbox: false,
      env: {
        FISCALBOX_BASE_URL: sandbox.url,
        FREEDOMPAY_BASE_URL: sandbox.url,
        API_TOKENS: `${SECRETS.api_token},${SECRETS.second_api_token}`,
        BOARD_USERNAME: 'operator',
        BOARD_PASSWORD: SECRETS.board_password,
        FISCALBOX_TOKEN: SECRETS.fiscalbox_token,
        FREEDOMPAY_MERCHANT_ID: MERCHANT,
        FREEDOMPAY_SECRET_KEY: SECRETS.freedompay_secret_key,
        CALLBACK_URL: `${receiver.url}/callbacks`,
        CALLBACK_SECRET: SECRETS.callback_secret,
        RETRY_ATTEMPTS: '2',
        // Long enough that the charge, which must succeed (a timed-out charge is ambiguous and ends dead), does so on a
        // machine running two suites at once (issue 19's paired runs: 500 ms failed once); one hang costs it once.
        PROVIDER_TIMEOUT_MS: '3000',
        LOG_LEVEL: 'trace',
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await receiver?.close();
    await sandbox?.close();
  });

  const keep = <T extends { status: number; body: unknown }>(res: T, from: 'api' | 'board' = 'api'): T => {
    const text = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
    answers.push(text);
    if (from === 'board') boardAnswers.push(text);
    return res;
  };

  it('runs traffic of every kind, successes and failures, through every flow', async () => {
    const run = uid();
    const confirmations = [
      ...Array.from({ length: 5 }, (_, i) => ({ provider: 'uzum', payment_id: `ok-${run}-${i}`, qr_code: QR })),
      { provider: 'payme', payment_id: `ok-${run}`, qr_code: QR },
      { provider: 'anor', transaction_id: `ok-${run}`, qr_code: QR },
      { provider: 'uzum', payment_id: `reject_${run}`, qr_code: QR },
      { provider: 'uzum', payment_id: `fail_${run}`, qr_code: QR },
      { provider: 'uzum', payment_id: `s503x1_${run}`, qr_code: QR },
      { provider: 'payme', payment_id: `s500_${run}`, qr_code: QR },
      { provider: 'anor', transaction_id: `garbagex1_${run}`, qr_code: QR },
      { provider: 'uzum', payment_id: `resetx1_${run}`, qr_code: QR },
      { provider: 'uzum', payment_id: `hangx1_${run}`, qr_code: QR },
      { provider: 'payme', payment_id: `s401_${run}`, qr_code: QR },
    ];
    const batch = keep(await h.post('/v1/confirmations/batch', { items: confirmations }));
    expect(batch.status).toBe(200);
    const ids = batch.body.results.map((r: { id: string }) => r.id) as string[];

    // Payme Go (seed 003 answers the phone too) with its follow-up confirmation, and a Freedom Pay receipt (signed
    // with the secret key on every call).
    const charge = keep(await h.post('/v1/payments/payme?wait=0', { amount: 1000, qr_code: KEPT_ON_JOB.payme_code, fiscal_qr_code: QR }, { 'idempotency-key': `charge-${run}` }));
    expect([200, 202]).toContain(charge.status);
    // A charge that dead-letters, so the code is also on the board's failed list.
    sandbox.program(KEPT_ON_JOB.payme_code.replace(/^5050/, '5051'), 'reject');
    const refused = keep(await h.post('/v1/payments/payme?wait=0', { amount: 1000, qr_code: KEPT_ON_JOB.payme_code.replace(/^5050/, '5051') }, { 'idempotency-key': `refused-${run}` }));
    expect([200, 202]).toContain(refused.status);
    const receipt = keep(
      await h.post('/v1/receipts/freedompay', {
        payment_id: `fp-${run}`,
        operation_type: 'sell',
        customer: { phone: KEPT_ON_JOB.customer_phone },
        positions: [{ name: 'Tea', price: 100, quantity: 1 }],
        settlements: [{ type: 'cashless', sum: 100 }],
      }),
    );
    expect([200, 202]).toContain(receipt.status);

    const records = await Promise.all([...ids, charge.body.id, refused.body.id, receipt.body.id].map((id: string) => h.waitForState(id, ['succeeded', 'dead'], 20_000)));
    for (const record of records) answers.push(JSON.stringify(record));
    // The secrets were really in use: FiscalBox took the token, Freedom Pay the signature.
    expect(records.filter((r) => r.provider === 'uzum' && r.state === 'succeeded').length).toBeGreaterThanOrEqual(7);
    expect(records.find((r) => r.provider === 'freedompay')?.state).toBe('succeeded');
    expect(records.find((r) => r.provider === 'payme_go')?.state).toBe('succeeded');
    expect(records.filter((r) => r.state === 'dead').length).toBeGreaterThanOrEqual(4);
    // Every record's end was called back (the Payme Go charge's own confirmation included).
    await receiver.waitFor((got) => new Set(got.map((c) => c.eventId)).size >= records.length + 1, 20_000, 'a callback per record');
    // A secret-holding record: the Uzum result keeps the phone masked.
    expect(JSON.stringify(records.find((r) => r.provider === 'uzum' && r.state === 'succeeded')?.result)).toContain('998*****5009');

    // API answers, errors included: tokens near the real ones, the board with wrong and right credentials.
    for (const authorization of [`Bearer ${SECRETS.api_token}x`, `Bearer x${SECRETS.api_token}`, `Basic ${SECRETS.api_token}`, '']) {
      const res = keep(await h.post('/v1/confirmations', { provider: 'payme', payment_id: `a-${run}`, qr_code: QR }, { authorization }));
      expect(res.status).toBe(401);
    }
    const badBoard = keep(await h.get('/admin/queues', { authorization: `Basic ${Buffer.from(`operator:${SECRETS.board_password}x`).toString('base64')}` }));
    expect(badBoard.status).toBe(401);
    const board = { authorization: `Basic ${Buffer.from(`operator:${SECRETS.board_password}`).toString('base64')}` };
    for (const queue of [...PROVIDERS, 'callbacks']) {
      for (const status of ['completed', 'failed']) {
        const res = keep(await h.get(`/admin/queues/api/queues?activeQueue=${queue}&status=${status}&page=1&jobsPerPage=50`, board), 'board');
        expect(res.status).toBe(200);
      }
    }
    // Each money job as the board's job page reads it: the Payme code and the customer's phone masked.
    for (const [queue, id] of [['payme_go', charge.body.id], ['payme_go', refused.body.id], ['freedompay', receipt.body.id]]) {
      const res = keep(await h.get(`/admin/queues/api/queues/${queue}/${encodeURIComponent(id)}`, board), 'board');
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body.job.data)).toMatch(queue === 'payme_go' ? /"qr_code":"505[01]\*{12}\d{4}"/ : /"phone":"998\*+\d{4}"/);
    }
    keep(await h.get('/admin/queues/api/redis/stats', board), 'board');
    keep(await h.get(`/v1/confirmations?payment_id=ok-${run}-0`));
    keep(await h.get('/v1/confirmations/uzum.nope'));
    keep(await h.post('/v1/confirmations', 'not json'));
    keep(await h.post('/v1/payments/payme', { amount: 1 }, { 'idempotency-key': `bad-${run}` }));
    keep(await h.get('/readyz'));
    keep(await h.get('/openapi.json'));
  }, 60_000);

  it('no secret and no phone number in the logs', () => {
    expect(h.logs.lines.length).toBeGreaterThan(50);
    expect(leaks(h.logs.text)).toEqual([]);
  });

  it('no secret and no phone number on /metrics', async () => {
    const res = await h.get('/metrics');
    expect(res.status).toBe(200);
    expect(leaks(String(res.body))).toEqual([]);
  });

  it('no secret and no phone number in what the callback receiver got, headers included', () => {
    expect(receiver.received.length).toBeGreaterThan(15);
    const sent = receiver.received.map((c) => `${JSON.stringify(c.headers)}\n${c.body}`).join('\n');
    expect(sent).toContain('998*****5009');
    expect(leaks(sent)).toEqual([]);
  });

  it('no secret and no phone number in any API answer, errors and Bull Board included', () => {
    expect(answers.length).toBeGreaterThan(20);
    const { payme_code: _kept, ...others } = { ...SECRETS, ...KEPT_ON_JOB };
    for (const text of answers) expect(leaks(text, others), text.slice(0, 300)).toEqual([]);
  });

  it('Bull Board shows no Payme code and no customer phone in clear, though both are kept on their jobs', () => {
    expect(boardAnswers.length).toBeGreaterThan(10);
    // The board read the money jobs (the masked forms are asserted where they were fetched).
    expect(boardAnswers.join('\n')).toContain(`${KEPT_ON_JOB.payme_code.slice(0, 4)}************`);
    for (const text of boardAnswers) expect(leaks(text), text.slice(0, 300)).toEqual([]);
  });

  it('no secret and no phone number anywhere in Redis under the prefix', async () => {
    const dump = await dumpKeys(h.app.redis, h.prefix);
    expect(dump.size).toBeGreaterThan(20);
    // The dump reached the stored results: the phone is there, masked.
    expect([...dump.values()].join('\n')).toContain('998*****5009');
    for (const [key, text] of dump) expect(leaks(text, SECRETS), key).toEqual([]);
    process.stdout.write(`secrets summary ${JSON.stringify({ log_lines: h.logs.lines.length, api_answers: answers.length, redis_keys: dump.size })}\n`);
  });

  it('npm audit --omit=dev: no high or critical advisory (when the registry serves advisories)', (ctx) => {
    const audit = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', timeout: 60_000 });
    let report: { metadata?: { vulnerabilities?: Record<string, number> }; error?: unknown; message?: string; statusCode?: number } = {};
    try {
      report = JSON.parse(audit.stdout || '{}');
    } catch {
      // not JSON: npm could not run the audit at all
    }
    const counts = report.metadata?.vulnerabilities;
    if (!counts) {
      ctx.skip(`npm audit could not get advisories from the registry (${report.statusCode ?? audit.status}: ${report.message ?? audit.stderr.split('\n').at(-2) ?? ''})`);
      return;
    }
    expect({ high: counts.high ?? 0, critical: counts.critical ?? 0 }).toEqual({ high: 0, critical: 0 });
  });
});

/**
 * ioredis puts the failed command on its errors (`err.command = {name, args}`), and the arguments are data: a Payme
 * code, an INN, a whole job. Real Redis errors (a command on a key of the wrong type, an unknown command, a failing
 * MULTI) are logged the ways the product logs errors, and none of their arguments may reach the log.
 */
describe('Redis errors reach the logs without their command arguments', () => {
  const PAYME_CODE = `5050${Date.now()}${Math.floor(Math.random() * 1e6)}`; // digits, like seed 003's code
  const INN = `30${Math.floor(1e6 + Math.random() * 8e6)}`; // 9 digits, like a company INN (seed 004)
  const prefix = `test-secrets-${uid()}`;
  let redis: Redis;

  beforeAll(async () => {
    redis = createRedis(inject('redisUrl'), 'api') as Redis;
    await redis.set(`${prefix}:string`, 'not a hash');
  });
  afterAll(async () => {
    await redis.del(`${prefix}:string`);
    await closeRedis(redis);
  });

  const failure = async (work: () => Promise<unknown>): Promise<Error> => {
    try {
      await work();
    } catch (err) {
      return err as Error;
    }
    throw new Error('the Redis command was expected to fail');
  };

  it('a wrong-type command, an unknown command and a failed MULTI, logged directly, as a cause and by fastify', async () => {
    const wrongType = await failure(() => redis.hset(`${prefix}:string`, 'qr_code', PAYME_CODE, 'inn', INN));
    // The error really carries the secrets: this is what would be logged without the serializer.
    expect(JSON.stringify((wrongType as Error & { command?: unknown }).command)).toContain(PAYME_CODE);
    const unknown = await failure(() => redis.call('FISCALNOPE', PAYME_CODE, INN));
    expect(unknown.message).toContain(PAYME_CODE); // Redis quotes an unknown command's arguments in its answer
    const multi = await redis.multi().set(`${prefix}:ok`, '1').hset(`${prefix}:string`, 'inn', INN).exec();
    const inMulti = multi?.[1]?.[0];
    expect(inMulti).toBeInstanceOf(Error);
    await redis.del(`${prefix}:ok`);

    const logs = new LogCapture();
    const logger = createLogger('trace', logs);
    logger.warn({ err: wrongType }, 'could not record the charge'); // as payme-go-processor.ts logs a failed write
    logger.child({ job_id: 'payme_go.x', provider: 'payme_go' }).error(unknown, 'worker error');
    logger.warn({ err: inMulti }, 'retention sweep failed');
    logger.warn({ err: Object.assign(new Error('exec failed'), { previousErrors: [wrongType, unknown] }) }, 'multi failed');
    logger.error({ err: new UnavailableError(wrongType) }, 'request failed');

    // fastify's request logger (errors.ts logs every 5xx with `err`), with a raw Redis error and a wrapped one.
    const http = createHttpServer(logger);
    http.get('/raw', async () => {
      throw wrongType;
    });
    http.get('/wrapped', async () => {
      throw new UnavailableError(unknown);
    });
    expect((await http.inject({ method: 'GET', url: '/raw' })).statusCode).toBe(500);
    expect((await http.inject({ method: 'GET', url: '/wrapped' })).statusCode).toBe(503);
    await http.close();
    logger.flush();

    const messages = logs.lines.map((line) => (JSON.parse(line) as { msg: string }).msg).filter((msg) => msg !== 'request finished');
    expect(messages).toEqual(['could not record the charge', 'worker error', 'retention sweep failed', 'multi failed', 'request failed', 'request failed', 'request failed']);
    expect(logs.text).not.toContain(PAYME_CODE);
    expect(logs.text).not.toContain(INN);
    expect(logs.text).toContain('WRONGTYPE');
    expect(logs.text).toContain('"command":"hset"'); // what failed stays readable
  });

  it('POST /v1/payments/payme whose job cannot be stored: 503, the failure logged, the Payme code not', async () => {
    const h = await startHarness({ env: { LOG_LEVEL: 'trace' } });
    try {
      // BullMQ's add reads the queue's meta hash first; a string there makes the add fail inside Redis.
      await h.app.redis.set(`${h.prefix}:payme_go:meta`, 'not a hash');
      const res = await h.post('/v1/payments/payme?wait=0', { amount: 1000, qr_code: PAYME_CODE }, { 'idempotency-key': `k-${uid()}` });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
      expect(h.logs.text).toContain('request failed');
      expect(h.logs.text).toContain('WRONGTYPE');
      expect(h.logs.text).not.toContain(PAYME_CODE);
    } finally {
      await h.app.redis.del(`${h.prefix}:payme_go:meta`);
      await h.close();
    }
  });
});

/** `npm run dev` logs which Redis it uses: the address, never the password in REDIS_URL (issue 19). */
describe('npm run dev keeps the Redis password out of its logs', () => {
  const PASSWORD = `redis-pw-${randomUUID()}`;
  let guarded: ThrowawayRedis;

  beforeAll(async () => {
    guarded = await startRedisServer(['--requirepass', PASSWORD]);
  });
  afterAll(() => guarded?.stop());

  /** Runs `src/dev.ts` until its "dev stack ready" line, then stops it with SIGTERM; returns everything it wrote. */
  function runDev(redisUrl: string): Promise<{ code: number | null; output: string; ready: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/dev.ts'], {
        env: { PATH: process.env.PATH ?? '', REDIS_URL: redisUrl, PORT: '0', QUEUE_PREFIX: `test-dev-${uid()}`, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      let ready: Record<string, unknown> | undefined;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`npm run dev did not get ready within 30 s: ${output}`));
      }, 30_000);
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        if (ready) return;
        const line = output.split('\n').find((l) => l.includes('dev stack ready'));
        if (line) {
          ready = JSON.parse(line) as Record<string, unknown>;
          child.kill('SIGTERM');
        }
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (ready) resolve({ code, output, ready });
        else reject(new Error(`npm run dev exited (${code}) before it was ready: ${output}`));
      });
    });
  }

  it('with a Redis that answers (password in REDIS_URL), and with one that does not (throwaway started)', async () => {
    const answering = `redis://:${PASSWORD}@127.0.0.1:${guarded.port}`;
    const silent = `redis://fiscal:${PASSWORD}@127.0.0.1:${await freePort()}`;
    const [used, fallback] = await Promise.all([runDev(answering), runDev(silent)]);
    // It really used the password-protected Redis, and really logged the URL it was given in the other case.
    expect(used.ready.redis).toBe(`redis://***@127.0.0.1:${guarded.port}`);
    expect(fallback.output).toContain('no Redis answers at REDIS_URL');
    expect(fallback.output).toMatch(/"redis":"redis:\/\/\*\*\*@127\.0\.0\.1:\d+"/);
    for (const run of [used, fallback]) {
      expect(run.code).toBe(0);
      expect(run.output).not.toContain(PASSWORD);
    }
  }, 60_000);
});
