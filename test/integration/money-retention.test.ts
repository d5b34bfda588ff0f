import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tombstoneKey } from '../../src/records/tombstones.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { newCode, newKey, uid } from '../helpers/ids.js';
import { sale } from '../helpers/money.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Issue 15, CONTRACT §2 IDEMPOTENCY_DAYS: a money record leaves a tombstone when its job goes, so the same
 * Idempotency-Key (or the same sale) long after RETENTION_DAYS answers what happened and never reaches the provider.
 * RETENTION_DAYS is a fraction of a day here (0.00002 ≈ 1.7 s; the retention sweeper then runs every second).
 */

const MERCHANT = '542088';
const SECRET = 'money-retention-secret';
const RETENTION_DAYS = 0.00002;

async function moneyHarness(idempotencyDays?: string): Promise<Harness> {
  return startHarness({
    env: {
      RETENTION_DAYS: String(RETENTION_DAYS),
      ...(idempotencyDays ? { IDEMPOTENCY_DAYS: idempotencyDays } : {}),
      FREEDOMPAY_MERCHANT_ID: MERCHANT,
      FREEDOMPAY_SECRET_KEY: SECRET,
      PROVIDER_TIMEOUT_MS: '500',
      CIRCUIT_THRESHOLD: '50',
    },
    sandbox: { freedompay: { merchantId: MERCHANT, secretKey: SECRET } },
  });
}

/** Helpers bound to one harness. */
function moneyTools(h: () => Harness) {
  const tombKey = (id: string) => tombstoneKey(h().app.queues.layout, h().app.queues.layout.queueOfRecord(id)!, id);
  return {
    tombKey,
    /** DELETE /v1/dead-letters/{id} over HTTP: the operator's removal. */
    removeDeadLetter: async (id: string) => (await request(`${h().url}/v1/dead-letters/${encodeURIComponent(id)}`, { method: 'DELETE' })).statusCode,
    charges: (code: string) => h().sandbox.calls('payme_go').filter((c) => c.key === code).length,
    creates: (pid: string) => h().sandbox.calls('freedompay_create').filter((c) => c.key === pid).length,
    charge: (key: string, body: Record<string, unknown>) => h().post('/v1/payments/payme?wait=10', body, { 'idempotency-key': key }),
    /** The job is gone: removed by the retention sweeper, or by an operator. */
    gone: (provider: 'payme_go' | 'freedompay', id: string) =>
      waitUntil(() => h().app.queues.get(provider).getJob(id), (job) => job === undefined, 10_000, `${id} to leave Redis`),
    /** `MEMORY USAGE` (bytes, the key and its value with Redis's overhead) and `TTL` (seconds) of a key. */
    footprint: async (key: string) => ({
      bytes: Number(await h().app.redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')),
      ttl: await h().app.redis.ttl(key),
    }),
  };
}

describe('money records after RETENTION_DAYS: tombstones answer repeats', () => {
  let h: Harness;
  const t = moneyTools(() => h);
  beforeAll(async () => {
    h = await moneyHarness();
  });
  afterAll(() => h?.close());

  it('the same Idempotency-Key and body after RETENTION_DAYS: 200 with the tombstone’s view, no new charge; another body 409', async () => {
    const key = newKey();
    const code = newCode();
    const body = { amount: 1500, qr_code: code };
    const first = await t.charge(key, body);
    expect(first.body).toMatchObject({ state: 'succeeded', amount: 1500 });
    const id = first.body.id as string;
    const job = await t.footprint(h.app.queues.jobKey(id));
    await t.gone('payme_go', id);

    const again = await t.charge(key, body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({
      id,
      provider: 'payme_go',
      state: 'succeeded',
      attempts: null,
      created_at: first.body.created_at,
      finished_at: first.body.finished_at,
      result: null,
      error: null,
      reference: null,
      history: [],
      expired: true,
      amount: 1500,
    });
    expect((await h.get(`/v1/payments/${id}`)).body).toEqual(again.body);
    const described = (await h.get('/openapi.json')).body.components.schemas.Record.properties;
    expect(described).toMatchObject({ attempts: { type: ['integer', 'null'] }, expired: { type: 'boolean' }, amount: { type: 'integer' } });
    const other = await t.charge(key, { amount: 1501, qr_code: code });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'conflict', details: { id } });
    expect(t.charges(code)).toBe(1);
    expect(await h.app.queues.get('payme_go').getJob(id)).toBeUndefined(); // nothing was queued again

    const tomb = await t.footprint(t.tombKey(id));
    const idempotencySeconds = h.app.config.idempotencySeconds;
    expect(tomb.ttl).toBeGreaterThan(idempotencySeconds - 60);
    expect(tomb.ttl).toBeLessThanOrEqual(idempotencySeconds + h.app.config.retentionSeconds);
    expect(tomb.bytes).toBeGreaterThan(0);
    expect(tomb.bytes).toBeLessThan(job.bytes);
    console.info(`[tombstone] payme_go ${t.tombKey(id)}: MEMORY USAGE ${tomb.bytes} bytes, TTL ${tomb.ttl} s (the succeeded job was ${job.bytes} bytes)`);
  });

  it('the same receipt (payment_id + operation_type) after RETENTION_DAYS: no second receipt; another body 409', async () => {
    const pid = `ret-${uid()}`;
    const first = await h.post('/v1/receipts/freedompay', sale(pid));
    expect(first.status).toBe(202);
    const id = first.body.id as string;
    await h.waitForState(id, 'succeeded');
    const job = await t.footprint(h.app.queues.jobKey(id));
    await t.gone('freedompay', id);

    const again = await h.post('/v1/receipts/freedompay', sale(pid));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id, state: 'succeeded', expired: true, total_minor: 20_000, result: null, history: [] });
    expect((await h.get(`/v1/receipts/${id}`)).body).toEqual(again.body);
    const other = await h.post('/v1/receipts/freedompay', sale(pid, { settlements: [{ type: 'cash', sum: 200 }] }));
    expect(other.status).toBe(409);
    expect(t.creates(pid)).toBe(1);
    expect(h.sandbox.receipts(pid)).toHaveLength(1);

    const tomb = await t.footprint(t.tombKey(id));
    expect(tomb.ttl).toBeGreaterThan(h.app.config.idempotencySeconds - 60);
    expect(tomb.bytes).toBeLessThan(job.bytes);
    console.info(`[tombstone] freedompay ${t.tombKey(id)}: MEMORY USAGE ${tomb.bytes} bytes, TTL ${tomb.ttl} s (the succeeded job was ${job.bytes} bytes)`);
  });

  it('a dead charge removed by an operator (DELETE /v1/dead-letters/{id}), then repeated: 200 dead from the tombstone, no new charge', async () => {
    const key = newKey();
    const code = newCode();
    h.sandbox.program(code, 'reject');
    const body = { amount: 900, qr_code: code };
    const first = await t.charge(key, body);
    expect(first.body).toMatchObject({ state: 'dead', error: { kind: 'rejected' } });
    const id = first.body.id as string;
    expect((await h.app.queues.get('payme_go').getJob(id))).toBeDefined(); // dead letters outlive RETENTION_DAYS
    expect(await t.removeDeadLetter(id)).toBe(204);
    await t.gone('payme_go', id);

    h.sandbox.program(code, ''); // the provider would accept it now: only the tombstone stands in the way
    const again = await t.charge(key, body);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id, state: 'dead', expired: true, amount: 900, error: null });
    expect(t.charges(code)).toBe(1);
  });
});

describe('tombstones live IDEMPOTENCY_DAYS after the record is gone', () => {
  let h: Harness;
  const t = moneyTools(() => h);
  beforeAll(async () => {
    // Tombstones then live RETENTION_DAYS + IDEMPOTENCY_DAYS ≈ 3.5 s after their last write.
    h = await moneyHarness(String(RETENTION_DAYS));
  });
  afterAll(() => h?.close());

  it('a dead letter kept longer than its tombstone’s first expiry, then removed: a repeat is still not charged', async () => {
    const key = newKey();
    const code = newCode();
    h.sandbox.program(code, 'reject');
    const body = { amount: 700, qr_code: code };
    const id = (await t.charge(key, body)).body.id as string;
    await h.waitForState(id, 'dead');
    // The dead letter stays (CONTRACT §5) while the tombstone written at its end would expire.
    await waitUntil(() => h.app.redis.exists(t.tombKey(id)), (n) => n === 0, 10_000, 'the end-of-run tombstone to expire');
    expect(await t.removeDeadLetter(id)).toBe(204);

    h.sandbox.program(code, '');
    const again = await t.charge(key, body);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id, state: 'dead', expired: true });
    expect(t.charges(code)).toBe(1);
  });

  it('after RETENTION_DAYS + IDEMPOTENCY_DAYS the key is forgotten: the same key and body is a new charge', async () => {
    const key = newKey();
    const code = newCode();
    const body = { amount: 300, qr_code: code };
    const id = (await t.charge(key, body)).body.id as string;
    await t.gone('payme_go', id);
    await waitUntil(() => h.app.redis.exists(t.tombKey(id)), (n) => n === 0, 10_000, 'the tombstone to expire');
    const again = await t.charge(key, body);
    expect(again.body).toMatchObject({ id, state: 'succeeded' });
    expect(again.body.expired).toBeUndefined();
    expect(t.charges(code)).toBe(2);
  });
});
