import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { newCode, newKey, uid } from '../helpers/ids.js';
import { sale } from '../helpers/money.js';
import { waitUntil } from '../helpers/wait.js';
import { spawnServe, type ServeProcess } from '../helpers/serve-process.js';

/**
 * Issue 15, crash and stalled-job recovery on the money queues: the real CLI (`fiscal-worker serve`) SIGKILLed while a
 * charge and a receipt create are in flight at the sandbox (`slow<ms>` keeps them there), then started again. BullMQ
 * hands the stalled jobs to the new process once their locks expire (10 s here, docs/RELIABILITY.md): the charge must
 * end dead `interrupted` without a second call, the receipt must be looked up and adopted, never created twice. Then a
 * forced replay that is itself killed mid-call: still no third charge.
 */

const MERCHANT = '542088';
const SECRET = 'money-crash-secret';

describe('money jobs in flight when the process dies', () => {
  let sandbox: Sandbox;
  const running = new Set<ServeProcess>();
  beforeAll(async () => {
    sandbox = await startSandbox({ freedompay: { merchantId: MERCHANT, secretKey: SECRET } });
  });
  afterAll(async () => {
    await Promise.all([...running].map((p) => p.stop('SIGKILL')));
    await sandbox?.close();
  });

  const prefix = `money-crash-${randomUUID().slice(0, 8)}`;
  const serve = async () => {
    const p = await spawnServe({
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: prefix,
      HOST: '127.0.0.1',
      PORT: '0',
      FISCALBOX_BASE_URL: sandbox.url,
      FREEDOMPAY_BASE_URL: sandbox.url,
      FREEDOMPAY_MERCHANT_ID: MERCHANT,
      FREEDOMPAY_SECRET_KEY: SECRET,
      PROVIDER_TIMEOUT_MS: '4000', // lock 10 s: a killed job is handed on 10–15 s later
      RETRY_BASE_MS: '50',
      RETRY_MAX_MS: '500',
      CIRCUIT_THRESHOLD: '50',
      LOG_LEVEL: 'info',
    });
    running.add(p);
    void p.exited.then(() => running.delete(p));
    return p;
  };
  const call = async (p: ServeProcess, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await request(p.url + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: (await res.body.json()) as any };
  };
  const recordOf = (p: ServeProcess, path: string) => call(p, 'GET', path).then((r) => r.body);
  const charges = (code: string) => sandbox.calls('payme_go').filter((c) => c.key === code).length;
  const creates = (pid: string) => sandbox.calls('freedompay_create').filter((c) => c.key === pid).length;

  it('SIGKILL mid-charge and mid-create: the charge ends dead interrupted, the receipt is adopted; a forced replay killed mid-call charges no third time', async () => {
    const code = newCode();
    const pid = `crash-${uid()}`;
    sandbox.program(code, 'slow3000'); // the charge is made at once, its answer comes 3 s later
    sandbox.program(pid, 'slow3000x1');

    const first = await serve();
    const charge = await call(first, 'POST', '/v1/payments/payme?wait=0', { amount: 2500, qr_code: code }, { 'idempotency-key': newKey() });
    const receipt = await call(first, 'POST', '/v1/receipts/freedompay', sale(pid));
    expect([charge.status, receipt.status]).toEqual([202, 202]);
    const paymentPath = `/v1/payments/${charge.body.id as string}`;
    const receiptPath = `/v1/receipts/${receipt.body.id as string}`;
    await waitUntil(() => charges(code) + creates(pid), (n) => n === 2, 10_000, 'both calls to reach the sandbox');
    expect((await first.stop('SIGKILL')).signal).toBe('SIGKILL');

    const second = await serve();
    const interrupted = await waitUntil(() => recordOf(second, paymentPath), (r) => r.state === 'dead', 40_000, 'the charge to be recovered');
    expect(interrupted.error).toMatchObject({ kind: 'ambiguous', code: 'interrupted', message: expect.stringContaining('check it with Payme, then replay with force') });
    expect(interrupted.history).toEqual([expect.objectContaining({ http_status: 'none', class: 'ambiguous', code: 'interrupted', terminal: true })]);
    const adopted = await waitUntil(() => recordOf(second, receiptPath), (r) => r.state === 'succeeded', 40_000, 'the receipt to be recovered');
    expect(adopted.result).toMatchObject({ status: 'registered', payment_id: pid, receipt_id: sandbox.receipts(pid)[0]!.receipt_id });
    expect(sandbox.calls('freedompay_list').filter((c) => (c.body as { payment_id?: string }).payment_id === pid)).toHaveLength(1);
    expect(charges(code)).toBe(1);
    expect(creates(pid)).toBe(1);
    expect(sandbox.receipts(pid)).toHaveLength(1);

    // The operator checked with Payme and forces one more charge; that run is killed mid-call as well.
    const replay = await call(second, 'POST', '/v1/dead-letters/replay', { ids: [charge.body.id], force: true });
    expect(replay.body).toEqual({ replayed: 1, skipped: [] });
    await waitUntil(() => charges(code), (n) => n === 2, 10_000, 'the forced charge to reach the sandbox');
    await second.stop('SIGKILL');

    const third = await serve();
    const again = await waitUntil(() => recordOf(third, paymentPath), (r) => r.state === 'dead' && r.history.length === 2, 40_000, 'the forced run to be recovered');
    expect(again.error).toMatchObject({ kind: 'ambiguous', code: 'interrupted' });
    expect(charges(code)).toBe(2);
    expect(third.logs.some((l) => l.msg === 'job dead-lettered without a provider call' && l.job_id === charge.body.id)).toBe(true);
    await third.stop('SIGTERM');
  }, 120_000);
});
