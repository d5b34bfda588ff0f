import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/infra/redis-server.js';
import type { PaymentJobData } from '../../src/domain/jobs.js';
import { paymentFingerprint, paymentRecordId } from '../../src/producers/payments.js';
import { startSandbox } from '../../src/sandbox/server.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { newCode, newKey } from '../helpers/ids.js';

// Payme Go (seed 003) over real HTTP against the sandbox, on real Redis: money moves at most once.

/** A fresh customer code: digits only, so sandbox faults come from program(code, …) (docs/SANDBOX.md). */

describe('Payme Go charges against the sandbox', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { PROVIDER_TIMEOUT_MS: '300', RETRY_ATTEMPTS: '4', CIRCUIT_THRESHOLD: '50' } });
  });
  afterAll(() => h?.close());

  const charge = (key: string | undefined, body: unknown, query = '') =>
    h.post(`/v1/payments/payme${query}`, body, key === undefined ? {} : { 'idempotency-key': key });
  const goCalls = (code: string) => h.sandbox.calls('payme_go').filter((c) => c.key === code);

  it('charges once and answers 200 with the provider data, the phone number masked everywhere', async () => {
    const code = newCode();
    const res = await charge(newKey(), { amount: 1000, qr_code: code });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ provider: 'payme_go', state: 'succeeded', amount: 1000, attempts: 1, error: null });
    expect(res.body.id).toMatch(/^payme_go\./);
    expect(res.body.result).toMatchObject({ amount: 1000, status: 'successfully', payment_id: expect.stringMatching(/^[0-9a-f]{24}$/), client_phone_number: '998*****5009' });
    expect(goCalls(code)).toHaveLength(1);
    expect(goCalls(code)[0]!.body).toEqual({ amount: 1000, qr_code: code });
    const job = await h.app.queues.get('payme_go').getJob(res.body.id);
    for (const stored of [JSON.stringify(res.body), JSON.stringify(job), h.logs.text]) expect(stored).not.toContain('998712565009');
    expect(h.logs.text).not.toContain(code);
  });

  it('charge → confirm: the payme confirmation follows for the returned payment_id, the records linked both ways', async () => {
    const res = await charge(newKey(), { amount: 2500, qr_code: newCode(), fiscal_qr_code: QR });
    expect(res.status).toBe(200);
    const paymentId = res.body.result.payment_id as string;
    expect(res.body.links).toEqual({ payme_confirm: `payme.${paymentId}` });
    const confirm = await h.waitForState(`payme.${paymentId}`, 'succeeded');
    expect(confirm.links).toEqual({ payme_go: res.body.id });
    expect(h.sandbox.calls('payme_confirm').filter((c) => c.key === paymentId).map((c) => c.body)).toEqual([{ payment_id: paymentId, qr_code: QR }]);
  });

  it.each([
    ['reject', '-31001', 'is_success: false'],
    ['fail', 'status_failed', 'data.status "failed" with is_success: true'],
  ])('a rejected charge (%s) is dead after one call: %s', async (directive, code) => {
    const customer = newCode();
    h.sandbox.program(customer, directive);
    const res = await charge(newKey(), { amount: 1000, qr_code: customer });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'dead', error: { kind: 'rejected', code } });
    expect(goCalls(customer)).toHaveLength(1);
  });

  it.each([
    ['hang', 'timeout'],
    ['reset', 'network'],
    ['s502', 502],
    ['garbage', 200],
  ] as const)('%s after the request was sent: exactly one call and a dead letter of kind ambiguous', async (directive, httpStatus) => {
    const customer = newCode();
    h.sandbox.program(customer, directive);
    const res = await charge(newKey(), { amount: 1000, qr_code: customer });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'dead', attempts: 1, error: { kind: 'ambiguous' } });
    expect(res.body.history).toEqual([expect.objectContaining({ class: 'ambiguous', http_status: httpStatus, terminal: true })]);
    // Nothing repeats it: give a retry every chance to happen (RETRY_MAX_MS is 200 ms here).
    await new Promise((r) => setTimeout(r, 400));
    expect(goCalls(customer)).toHaveLength(1);
    expect((await h.get(`/v1/payments/${res.body.id}`)).body.state).toBe('dead');
  });

  it('an ambiguous dead letter is replayed only with force, and the replay is an audit event', async () => {
    const customer = newCode();
    h.sandbox.program(customer, 'hangx1');
    const { body } = await charge(newKey(), { amount: 700, qr_code: customer });
    expect(body.error.kind).toBe('ambiguous');
    const replay = (id: string, force = false) => h.app.deadLetters.replay({ ids: [id], force, actor: { via: 'api', name: 'test' } });

    expect((await replay(body.id)).skipped).toMatchObject([{ reason: 'needs_force' }]);
    expect(goCalls(customer)).toHaveLength(1);
    expect(h.logs.audits().at(-1)).toMatchObject({ audit: 'replay', actor: { via: 'api', name: 'test' }, force: false, replayed: 0, skipped_ids: [{ id: body.id, reason: 'needs_force' }] });

    expect(await replay(body.id, true)).toEqual({ replayed: 1, skipped: [] });
    const record = await h.waitForState(body.id, 'succeeded');
    expect(goCalls(customer)).toHaveLength(2);
    expect(record.history.map((e) => e.class)).toEqual(['ambiguous', 'success']);
    expect(h.logs.audits('forced_replay')[0]).toMatchObject({ actor: { via: 'api', name: 'test' }, ids: [body.id], queue: 'payme_go' });
    expect(h.logs.audits().at(-1)).toMatchObject({ audit: 'replay', force: true, replayed: 1, ids: [body.id] });
  });

  it('counts calls under the payme_go provider label (CONTRACT §6)', async () => {
    const { body } = await h.get('/metrics');
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(body as string)?.[1] ?? 'NaN');
    expect(value('fiscal_attempts_total{provider="payme_go",class="success"}')).toBeGreaterThan(0);
    expect(value('fiscal_attempts_total{provider="payme_go",class="ambiguous"}')).toBeGreaterThan(0);
    expect(value('fiscal_attempts_total{provider="payme_go",class="rejected"}')).toBeGreaterThan(0);
    expect(value('fiscal_enqueued_total{provider="payme_go",result="created"}')).toBeGreaterThan(0);
    expect(value('fiscal_jobs_finished_total{provider="payme_go",state="dead"}')).toBeGreaterThan(0);
  });

  it('a worker that stopped after sending leaves the charge ambiguous: the next run never calls again', async () => {
    const customer = newCode();
    const key = newKey();
    const id = paymentRecordId(key);
    const data: PaymentJobData = { amount: 300, qr_code: customer, fingerprint: paymentFingerprint({ amount: 300, qr_code: customer }) };
    // As left by a worker killed mid-call: the `sending` marker of run 0 and no history entry for that call.
    const job = await h.app.queues.get('payme_go').add('charge', data, { jobId: id, delay: 300 });
    await job.updateProgress({ charge: { state: 'sending', run: 0, at: new Date().toISOString() } });
    const record = await h.waitForState(id, 'dead');
    expect(record.error).toMatchObject({ kind: 'ambiguous', code: 'interrupted' });
    expect(goCalls(customer)).toHaveLength(0);
  });

  it('a re-run after the charge (worker stopped before finishing) neither charges again nor makes a second confirmation', async () => {
    const customer = newCode();
    const key = newKey();
    const id = paymentRecordId(key);
    const paymentId = randomUUID().replace(/-/g, '').slice(0, 24);
    // The confirmation the first run enqueued before it stopped.
    const first = await h.app.producer!.enqueue({ provider: 'payme', payment_id: paymentId, qr_code: QR }, { links: { payme_go: id } });
    expect(first.result).toBe('created');
    const input = { amount: 300, qr_code: customer, fiscal_qr_code: QR };
    const charged = { data: { amount: 300, payment_id: paymentId, status: 'successfully' }, attempt: { at: new Date().toISOString(), http_status: 200, class: 'success', latency_ms: 5, terminal: true } };
    const job = await h.app.queues.get('payme_go').add('charge', { ...input, fingerprint: paymentFingerprint(input) }, { jobId: id, delay: 300 });
    await job.updateProgress({ charge: { state: 'charged', result: charged } });
    const record = await h.waitForState(id, 'succeeded');
    expect(record.result).toEqual(charged.data);
    expect(record.links).toEqual({ payme_confirm: `payme.${paymentId}` });
    expect(goCalls(customer)).toHaveLength(0);
    await h.waitForState(`payme.${paymentId}`, 'succeeded');
    expect(h.sandbox.calls('payme_confirm').filter((c) => c.key === paymentId)).toHaveLength(1);
  });

  it('the same Idempotency-Key and body is the same record and one charge; another body is 409', async () => {
    const key = newKey();
    const customer = newCode();
    const first = await charge(key, { amount: 1000, qr_code: customer });
    const again = await charge(key, { amount: 1000, qr_code: customer });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(goCalls(customer)).toHaveLength(1);

    const other = await charge(key, { amount: 1001, qr_code: customer });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'conflict', details: { id: first.body.id } });
    expect(other.body.error.message).toMatch(/Idempotency-Key/);
    expect(goCalls(customer)).toHaveLength(1);
  });

  it('?wait=0 answers 202 at once; GET /v1/payments/{id} follows it to the end', async () => {
    const customer = newCode();
    h.sandbox.program(customer, 'slow200');
    const res = await charge(newKey(), { amount: 1000, qr_code: customer }, '?wait=0');
    expect(res.status).toBe(202);
    expect(['queued', 'active']).toContain(res.body.state);
    await h.waitForState(res.body.id, 'succeeded');
    const read = await h.get(`/v1/payments/${res.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body.state).toBe('succeeded');
    expect((await h.get('/v1/payments/payme_go.nope')).status).toBe(404);
    expect((await h.get('/v1/payments/payme.x')).status).toBe(404);
  });

  it('400 without Idempotency-Key, for a bad body, and for wait over 60', async () => {
    const missing = await charge(undefined, { amount: 1000, qr_code: newCode() });
    expect([missing.status, missing.body.error.code]).toEqual([400, 'missing_idempotency_key']);
    const bad = await charge(newKey(), { amount: 10.5, qr_code: 'abc', fiscal_qr_code: 'http://x' });
    expect(bad.status).toBe(400);
    expect([...new Set(bad.body.error.details.map((d: { field: string }) => d.field))].sort()).toEqual(['amount', 'fiscal_qr_code', 'qr_code']);
    const zero = await charge(newKey(), { amount: 0, qr_code: newCode() });
    expect(zero.body.error.message).toMatch(/amount must be positive/);
    const wait = await charge(newKey(), { amount: 1, qr_code: newCode() }, '?wait=61');
    expect([wait.status, wait.body.error.code]).toEqual([400, 'invalid_query']);
  });
});

describe('Payme Go while the server stops', () => {
  it('a request waiting for its charge answers 202 at once instead of holding the shutdown', async () => {
    const h = await startHarness({ env: { PROVIDER_TIMEOUT_MS: '1500' } });
    const customer = newCode();
    h.sandbox.program(customer, 'hang');
    const pending = h.post('/v1/payments/payme', { amount: 1000, qr_code: customer }, { 'idempotency-key': newKey() });
    while (h.sandbox.calls('payme_go').length === 0) await new Promise((r) => setTimeout(r, 10));
    const closedAt = Date.now();
    const closing = h.close();
    const res = await pending;
    expect(Date.now() - closedAt).toBeLessThan(1000);
    expect(res.status).toBe(202);
    expect(res.body.state).toBe('active');
    await closing;
  });
});

describe('Payme Go when the provider cannot be reached', () => {
  it('a refused connection is retried (it provably never left) and succeeds once the provider is up', async () => {
    const port = await freePort();
    const h = await startHarness({ sandbox: false, env: { FISCALBOX_BASE_URL: `http://127.0.0.1:${port}`, RETRY_BASE_MS: '100', RETRY_MAX_MS: '200' } });
    let sandbox: Awaited<ReturnType<typeof startSandbox>> | undefined;
    try {
      const res = await h.post('/v1/payments/payme?wait=0', { amount: 1000, qr_code: newCode() }, { 'idempotency-key': newKey() });
      expect(res.status).toBe(202);
      const retrying = await h.waitForState(res.body.id, 'retrying');
      expect(retrying.error).toMatchObject({ kind: 'retryable', code: 'ECONNREFUSED' });
      sandbox = await startSandbox({ port });
      const record = await h.waitForState(res.body.id, 'succeeded');
      expect(record.history.at(-1)).toMatchObject({ class: 'success', http_status: 200 });
      expect(record.history.slice(0, -1).every((e) => e.class === 'retryable' && e.code === 'ECONNREFUSED')).toBe(true);
      expect(sandbox.calls('payme_go')).toHaveLength(1);
    } finally {
      await h.close();
      await sandbox?.close();
    }
  });
});
