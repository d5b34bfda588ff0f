import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDERS } from '../../src/domain/provider.js';
import { QR, type Harness } from '../helpers/harness.js';
import { newCode, uid } from '../helpers/ids.js';
import { boardClient, startMoneyHarness } from '../helpers/money.js';

// Bull Board's HTTP API under the queues' board policies (issues 15 and 16): what each queue refuses, replays through
// the shared dead-letter path, and the audit line of every change, without a browser.

const USER = 'night-operator';
const PASSWORD = `board-${randomUUID()}`;
const MERCHANT = '542088';
const SECRET = 'board-test-secret';

describe('Bull Board API: queue policies, replays through the shared path, audit lines', () => {
  let h: Harness;
  let board: ReturnType<typeof boardClient>;
  beforeAll(async () => {
    h = await startMoneyHarness({ user: USER, password: PASSWORD }, { merchantId: MERCHANT, secretKey: SECRET });
    board = boardClient(h.url, USER, PASSWORD);
  });
  afterAll(() => h?.close());

  const goCalls = (code: string) => h.sandbox.calls('payme_go').filter((c) => c.key === code);
  const deadCharge = async (directive: string) => {
    const code = newCode();
    h.sandbox.program(code, directive);
    const res = await h.post('/v1/payments/payme?wait=10', { amount: 1000, qr_code: code }, { 'idempotency-key': `board-${uid()}` });
    expect(res.body).toMatchObject({ state: 'dead' });
    return { code, id: res.body.id as string };
  };
  const deadConfirmation = async (provider: 'payme' | 'uzum' | 'anor', directive = 's500') => {
    const pid = `board-${uid()}`;
    h.sandbox.program(pid, directive);
    const res = await h.post('/v1/confirmations', { provider, [provider === 'anor' ? 'transaction_id' : 'payment_id']: pid, qr_code: QR });
    await h.waitForState(res.body.id, 'dead');
    return { pid, id: res.body.id as string };
  };

  it('shows every provider queue and the callbacks queue, with their switches, names and record links', async () => {
    const { body } = await board('GET', '/queues?page=1&jobsPerPage=10');
    const byName = Object.fromEntries((body.queues as any[]).map((q) => [q.name, q]));
    expect(Object.keys(byName).sort()).toEqual([...PROVIDERS, 'callbacks'].sort());
    expect(byName.callbacks).toMatchObject({ displayName: 'Result callbacks', readOnlyMode: false, allowRetries: true });
    expect(byName.payme_go).toMatchObject({ displayName: 'Payme Go charges', readOnlyMode: true, allowRetries: false });
    expect(byName.freedompay).toMatchObject({ displayName: 'Freedom Pay receipts', readOnlyMode: false, allowRetries: true, allowCompletedRetries: false });
    expect(byName.payme).toMatchObject({ displayName: 'Payme confirmations', readOnlyMode: false, allowRetries: true, allowCompletedRetries: false });
    expect(byName.payme.description).toContain('dead letters');
  });

  it('Payme Go: no board route charges again or changes a charge; each answers 403 and nothing moves', async () => {
    const ambiguous = await deadCharge('hangx1');
    const refused = await deadCharge('reject');
    const queue = h.app.queues.get('payme_go');
    const countsBefore = await queue.getJobCounts();
    const id = ambiguous.id;
    const attempts: [method: 'PUT' | 'POST' | 'PATCH', path: string, body?: unknown][] = [
      ['PUT', `/queues/payme_go/${id}/retry`],
      ['PUT', `/queues/payme_go/${refused.id}/retry`],
      ['PUT', '/queues/payme_go/retry/failed'],
      ['PUT', '/queues/payme_go/retry/completed'],
      ['PATCH', `/queues/payme_go/${id}/update-data`, { jobData: { amount: 1, qr_code: ambiguous.code } }],
      ['POST', '/queues/payme_go/add', { name: 'charge', data: { amount: 5, qr_code: ambiguous.code }, options: {} }],
      ['PUT', `/queues/payme_go/${id}/clean`],
      ['PUT', '/queues/payme_go/clean/failed'],
      ['PUT', `/queues/payme_go/${id}/promote`],
      ['PUT', '/queues/payme_go/promote'],
      ['PUT', '/queues/payme_go/pause'],
      ['PUT', '/queues/payme_go/empty'],
      ['PUT', '/queues/payme_go/obliterate', { force: true }],
    ];
    const refusedBefore = h.logs.audits('board_refused').length;
    for (const [method, path, body] of attempts) {
      const res = await board(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error, `${method} ${path}`).toMatchObject({ code: 'forbidden', key: 'ERRORS.FORBIDDEN', message: expect.stringContaining('view-only') });
      expect(res.body.message).toBe(res.body.error.message);
    }
    // A Payme Go id under a queue that allows retries is not replayed either.
    expect((await board('PUT', `/queues/payme/${id}/retry`)).status).toBe(404);

    expect(await queue.getJobCounts()).toEqual(countsBefore);
    expect(await queue.isPaused()).toBe(false);
    expect(goCalls(ambiguous.code)).toHaveLength(1);
    expect(goCalls(refused.code)).toHaveLength(1);
    const job = await queue.getJob(id);
    expect(job?.data).toMatchObject({ amount: 1000, qr_code: ambiguous.code });
    expect(await job?.getState()).toBe('failed');
    const refusals = h.logs.audits('board_refused').slice(refusedBefore);
    expect(refusals).toHaveLength(attempts.length);
    expect(refusals[0]).toMatchObject({ actor: { via: 'board', name: USER }, queue: 'payme_go', action: 'retry' });
  });

  it('Payme Go on the board: the customer’s code masked, the reason in the title, the record linked', async () => {
    const { code, id } = await deadCharge('hangx1');
    const res = await board('GET', `/queues/payme_go/${encodeURIComponent(id)}`);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(code);
    expect(res.body.job.data.qr_code).toBe(`${code.slice(0, 4)}************${code.slice(-4)}`);
    expect(res.body.job.name).toMatch(/^Payme Go charge · ambiguous: timeout: /);
    expect(res.body.job.externalUrl).toEqual({ href: `/v1/payments/${id}`, displayText: 'API record' });
    expect(res.body.job.stacktrace[0]).toMatch(/ · timeout · ambiguous timeout · .* · ended the run$/);
    const list = await board('GET', '/queues?activeQueue=payme_go&status=failed&page=1&jobsPerPage=50');
    expect(list.text).not.toContain(code);
  });

  it('Retry on a confirmation replays one dead letter through the shared path; the audit line names the board user', async () => {
    const { pid, id } = await deadConfirmation('payme');
    h.sandbox.program(pid, '');
    const res = await board('PUT', `/queues/payme/${id}/retry`);
    expect(res.status).toBe(204);
    const record = await h.waitForState(id, 'succeeded');
    expect(record.history.map((e) => [e.class, Boolean(e.terminal)])).toEqual([
      ['retryable', false],
      ['retryable', true],
      ['success', true],
    ]);
    expect(h.logs.audits('replay').find((l) => l.ids?.includes(id))).toMatchObject({ actor: { via: 'board', name: USER }, scope: 'ids', requested: 1, replayed: 1, skipped: 0 });
    const { body } = await board('GET', `/queues/payme/${id}`);
    expect(body.job.externalUrl.href).toBe(`/v1/confirmations/${id}`);
    expect(body.job.name).toBe('Payme confirmation');
  });

  it('Retry all replays every dead letter of the queue and answers as bull-board does', async () => {
    const dead = [await deadConfirmation('anor'), await deadConfirmation('anor')];
    for (const { pid } of dead) h.sandbox.program(pid, '');
    const res = await board('PUT', '/queues/anor/retry/failed');
    expect(res).toMatchObject({ status: 200, body: { retried: 2, skipped: 0 } });
    for (const { id } of dead) await h.waitForState(id, 'succeeded');
    expect(h.logs.audits('replay').find((l) => l.scope === 'anor')).toMatchObject({ actor: { via: 'board', name: USER }, requested: 2, replayed: 2, skipped: 0 });
  });

  it('a finished job is not a dead letter: its retry is refused and nothing is called again', async () => {
    const res = await h.post('/v1/confirmations', { provider: 'payme', payment_id: `done-${uid()}`, qr_code: QR });
    await h.waitForState(res.body.id, 'succeeded');
    const calls = h.sandbox.calls('payme_confirm').length;
    const one = await board('PUT', `/queues/payme/${res.body.id}/retry`);
    expect(one.status).toBe(409);
    expect(one.body.error).toMatchObject({ code: 'conflict', key: 'ERRORS.JOB_NOT_RETRIABLE', message: expect.stringContaining('not a dead letter') });
    expect((await board('PUT', '/queues/payme/retry/completed')).status).toBe(403);
    expect(await h.app.queues.get('payme').getJobState(res.body.id)).toBe('completed');
    expect(h.sandbox.calls('payme_confirm')).toHaveLength(calls);
  });

  it('removals are audit lines: one job, and the failed set with how many', async () => {
    const one = await deadConfirmation('uzum', 'reject');
    expect((await board('PUT', `/queues/uzum/${one.id}/clean`)).status).toBe(204);
    expect(await h.app.queues.get('uzum').getJob(one.id)).toBeUndefined();
    expect(h.logs.audits('remove').find((l) => l.ids?.includes(one.id))).toMatchObject({ actor: { via: 'board', name: USER }, queue: 'uzum', ids: [one.id] });

    const dead = [await deadConfirmation('uzum', 'reject'), await deadConfirmation('uzum', 'reject')];
    // bull-board cleans only jobs finished more than 5 s ago: these are moved back in the failed set (its score is
    // the time a job failed), as if they had failed a minute ago.
    const failedKey = h.app.queues.get('uzum').keys.failed!;
    for (const { id } of dead) await h.app.redis.zadd(failedKey, 'XX', Date.now() - 60_000, id);
    const res = await board('PUT', '/queues/uzum/clean/failed');
    expect(res.status).toBe(200);
    expect(await h.app.queues.get('uzum').getFailedCount()).toBe(0);
    const clean = h.logs.audits('clean').at(-1);
    expect(clean).toMatchObject({ actor: { via: 'board', name: USER }, queue: 'uzum', status: 'failed', count: 2 });
    expect([...clean!.ids].sort()).toEqual(dead.map((d) => d.id).sort());
  });

  it('Freedom Pay: Retry replays a dead letter (looked up first, one receipt); adding, editing, removing are refused', async () => {
    const pid = `board-${uid()}`;
    h.sandbox.program(pid, 's400');
    const res = await h.post('/v1/receipts/freedompay', {
      payment_id: pid,
      operation_type: 'sell',
      positions: [{ name: 'Tea', price: 100, quantity: 1 }],
      settlements: [{ type: 'cashless', sum: 100 }],
    });
    const id = res.body.id as string;
    await h.waitForState(id, 'dead');
    const forbidden: [method: 'PUT' | 'POST' | 'PATCH', path: string, body?: unknown][] = [
      ['PATCH', `/queues/freedompay/${id}/update-data`, { jobData: { payment_id: pid, positions: [] } }],
      ['POST', '/queues/freedompay/add', { name: 'receipt', data: { payment_id: pid }, options: {} }],
      ['PUT', `/queues/freedompay/${id}/clean`],
      ['PUT', '/queues/freedompay/clean/failed'],
    ];
    for (const [method, path, body] of forbidden) {
      const refused = await board(method, path, body);
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(refused.body.error.message).toContain('Freedom Pay');
    }
    expect(await h.app.queues.get('freedompay').getJobState(id)).toBe('failed');

    h.sandbox.program(pid, '');
    expect((await board('PUT', `/queues/freedompay/${id}/retry`)).status).toBe(204);
    const record = await h.waitForState(id, 'succeeded');
    expect(record.result).toMatchObject({ status: 'registered', payment_id: pid });
    expect(h.sandbox.receipts(pid)).toHaveLength(1);
    expect(h.logs.audits('replay').find((l) => l.ids?.includes(id))).toMatchObject({ actor: { via: 'board', name: USER }, replayed: 1 });
  });
});
