import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QR, OTHER_QR, startHarness, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';


describe('core pipeline on real Redis against the sandbox', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { RETRY_ATTEMPTS: '4', PROVIDER_TIMEOUT_MS: '300', CIRCUIT_THRESHOLD: '50' } });
  });
  afterAll(() => h?.close());

  const callsFor = (endpoint: 'payme_confirm' | 'uzum_confirm' | 'anor_confirm', key: string) => h.sandbox.calls(endpoint).filter((c) => c.key === key);

  it.each([
    ['payme', 'payment_id', 'payme_confirm'],
    ['uzum', 'payment_id', 'uzum_confirm'],
    ['anor', 'transaction_id', 'anor_confirm'],
  ] as const)('%s: succeeds with exactly one provider call', async (provider, idField, endpoint) => {
    const id = `ok-${uid()}`;
    const res = await h.post('/v1/confirmations', { provider, [idField]: id, qr_code: QR, reference: `order-${id}` });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: `${provider}.${id}`, provider, state: 'queued', [idField]: id });
    const record = await h.waitForState(res.body.id, 'succeeded');
    expect(record.attempts).toBe(1);
    expect(record.history).toHaveLength(1);
    expect(record.history[0]).toMatchObject({ class: 'success', http_status: 200 });
    expect(record.result).toBeTruthy();
    expect(record.error).toBeNull();
    expect(record.finished_at).not.toBeNull();
    expect(callsFor(endpoint, id)).toHaveLength(1);
  });

  it('masks the Uzum client phone number in the stored result', async () => {
    const id = `phone-${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'succeeded');
    expect((record.result as { client_phone_number: string }).client_phone_number).toBe('998*****5009');
    expect(JSON.stringify(record)).not.toContain('998712565009');
  });

  it('a rejection is dead after one call, with the provider error kept', async () => {
    const id = `reject_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'payme', payment_id: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'dead');
    expect(callsFor('payme_confirm', id)).toHaveLength(1);
    expect(record.error).toMatchObject({ kind: 'rejected', code: '-31001' });
    expect(record.error?.provider_response).toMatchObject({ is_success: false });
  });

  it.each([
    ['payme', 'payment_id', 'payme_confirm', 'payme_error'],
    ['uzum', 'payment_id', 'uzum_confirm', '-31050'],
    ['anor', 'transaction_id', 'anor_confirm', '1'],
  ] as const)('%s: a data-level failure with is_success true is dead after one call', async (provider, idField, endpoint, code) => {
    const id = `fail_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider, [idField]: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'dead');
    expect(record.error).toMatchObject({ kind: 'rejected', code });
    expect(callsFor(endpoint, id)).toHaveLength(1);
  });

  it('503 twice, then success on the third call', async () => {
    const id = `s503x2_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'succeeded');
    expect(record.attempts).toBe(3);
    expect(record.history.map((e) => e.http_status)).toEqual([503, 503, 200]);
    expect(record.history.map((e) => e.class)).toEqual(['retryable', 'retryable', 'success']);
    expect(callsFor('uzum_confirm', id)).toHaveLength(3);
  });

  it('429 with Retry-After: the next call waits at least that long', async () => {
    const id = `s429x1_ra1_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'payme', payment_id: id, qr_code: QR });
    await h.waitForState(body.id, 'succeeded');
    const calls = callsFor('payme_confirm', id);
    expect(calls).toHaveLength(2);
    const gap = calls[1]!.at - calls[0]!.at;
    // RETRY_MAX_MS is 200 ms here: only the provider's Retry-After (1 s) explains a gap this long.
    expect(gap).toBeGreaterThanOrEqual(950);
  });

  it('a timeout, then success; the record notes the lost answer', async () => {
    const id = `hangx1_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'succeeded');
    expect(record.history.map((e) => e.http_status)).toEqual(['timeout', 200]);
    expect(record.after_lost_answer).toBe(true);
    expect(callsFor('anor_confirm', id)).toHaveLength(2);
  });

  it('a body that is not JSON is retryable, then success; the record notes the lost answer', async () => {
    const id = `garbagex1_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'payme', payment_id: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'succeeded');
    expect(record.history[0]).toMatchObject({ class: 'retryable', code: 'undocumented_body', lost_answer: true });
    expect(record.after_lost_answer).toBe(true);
    expect(callsFor('payme_confirm', id)).toHaveLength(2);
  });

  it('a connection reset after sending is retryable, then success; the record notes the lost answer', async () => {
    const id = `resetx1_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'succeeded');
    // The sandbox fiscalized it, then reset the connection: undici reports ECONNRESET or UND_ERR_SOCKET.
    expect(record.history[0]).toMatchObject({ class: 'retryable', http_status: 'network', lost_answer: true });
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(record.history[0]!.code);
    expect(record.after_lost_answer).toBe(true);
    expect(callsFor('uzum_confirm', id)).toHaveLength(2);
  });

  it('a success at the first call is not marked after_lost_answer', async () => {
    const { body } = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: `plain-${uid()}`, qr_code: QR });
    const record = await h.waitForState(body.id, 'succeeded');
    expect(record.after_lost_answer).toBeUndefined();
  });

  it('a 4xx is a client error: dead after one call, saying it is a configuration fault', async () => {
    const id = `s404_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'dead');
    expect(record.error).toMatchObject({ kind: 'client_error', code: 'http_404' });
    expect(record.error?.message).toMatch(/configuration/);
    expect(callsFor('anor_confirm', id)).toHaveLength(1);
  });

  it('a permanent 5xx is dead after exactly RETRY_ATTEMPTS calls', async () => {
    const id = `s500_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'payme', payment_id: id, qr_code: QR });
    const record = await h.waitForState(body.id, 'dead');
    expect(callsFor('payme_confirm', id)).toHaveLength(4);
    expect(record.attempts).toBe(4);
    expect(record.error).toMatchObject({ kind: 'retryable', code: 'http_500' });
    expect(record.error?.message).toMatch(/gave up after 4 attempts/);
  });

  it('a duplicate answers 200 with the record and never calls the provider again, also after success', async () => {
    const id = `dup-${uid()}`;
    const first = await h.post('/v1/confirmations', { provider: 'payme', payment_id: id, qr_code: QR });
    await h.waitForState(first.body.id, 'succeeded');
    const again = await h.post('/v1/confirmations', { provider: 'payme', payment_id: id, qr_code: QR });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, state: 'succeeded' });
    expect(callsFor('payme_confirm', id)).toHaveLength(1);
  });

  it('the same payment with another qr_code is a conflict (409) and changes nothing', async () => {
    const id = `conflict-${uid()}`;
    const first = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    const other = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: OTHER_QR });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('conflict');
    const record = await h.waitForState(first.body.id, 'succeeded');
    expect(callsFor('uzum_confirm', id)).toHaveLength(1);
    expect(h.sandbox.calls('uzum_confirm').find((c) => c.key === id)?.body).toMatchObject({ qr_code: QR });
    expect(record.state).toBe('succeeded');
  });

  it('a dead letter replayed the way Bull Board does it (attemptsMade kept) runs again with fresh attempts and its id', async () => {
    const id = `s500x5_${uid()}`;
    const { body } = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: id, qr_code: QR });
    await h.waitForState(body.id, 'dead');
    expect(callsFor('uzum_confirm', id)).toHaveLength(4);
    const job = (await h.app.queues.get('uzum').getJob(body.id))!;
    await job.retry('failed');
    const record = await h.waitForState(body.id, 'succeeded');
    // Call 5 still fails; BullMQ's own count (5 > 4) would have killed it there. Ours counts the new run only.
    expect(callsFor('uzum_confirm', id)).toHaveLength(6);
    expect(record.id).toBe(body.id);
    expect(record.history.map((e) => e.http_status)).toEqual([500, 500, 500, 500, 500, 200]);
    expect(record.history.filter((e) => e.terminal)).toHaveLength(2);
  });

  it('ids that are not plain are encoded, never rejected by BullMQ', async () => {
    const res = await h.post('/v1/confirmations', { provider: 'payme', payment_id: 'order:42/x', qr_code: QR });
    expect(res.status).toBe(202);
    expect(res.body.id).toMatch(/^payme\.~/);
    const record = await h.waitForState(res.body.id, 'succeeded');
    expect(record.payment_id).toBe('order:42/x');
  });
});

describe('RATE_LIMIT_<PROVIDER>', () => {
  it('spreads calls to that provider to the configured rate, across the queue', async () => {
    const h = await startHarness({ env: { RATE_LIMIT_ANOR: '5' } });
    try {
      const run = uid();
      const items = Array.from({ length: 11 }, (_, i) => ({ provider: 'anor', transaction_id: `rl-${run}-${i}`, qr_code: QR }));
      const res = await h.post('/v1/confirmations/batch', { items });
      await Promise.all(res.body.results.map((r: { id: string }) => h.waitForState(r.id, 'succeeded')));
      const times = h.sandbox.calls('anor_confirm').map((c) => c.at).sort((a, b) => a - b);
      expect(times).toHaveLength(11);
      // 5 per second: 11 calls need at least two full windows after the first.
      expect(times[10]! - times[0]!).toBeGreaterThanOrEqual(1900);
    } finally {
      await h.close();
    }
  });
});
