import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { runDeadCli } from '../../src/operations/dead-cli.js';
import type { Endpoint } from '../../src/sandbox/types.js';
import { OTHER_QR, QR, startHarness, type Harness } from '../helpers/harness.js';
import { newCode, uid } from '../helpers/ids.js';

/**
 * Issue 16, CONTRACT §3/§5: the dead-letter API over real HTTP on real Redis, the dead letters made by the sandbox.
 * The CLI over the same path: test/e2e/dead-cli.test.ts; 10,000 at once: dead-letters.load.test.ts.
 */

const TOKEN = 'dead-letter-test-token-7f3a9c';
/** A Payme Go customer code: digits only, so its faults come from sandbox.program (docs/SANDBOX.md). */

interface Ranked {
  id: string;
  score: number;
}

async function start(): Promise<Harness> {
  return startHarness({ env: { API_TOKENS: `ops:${TOKEN}`, PROVIDER_TIMEOUT_MS: '300', CIRCUIT_THRESHOLD: '50' } });
}

async function del(h: Harness, path: string): Promise<{ status: number; body: any }> {
  const res = await request(h.url + path, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

/** Confirmations (`[provider, key]`) through the batch API; waits until each has reached `state`. */
async function confirmAll(h: Harness, items: readonly (readonly [string, string])[], state: 'dead' | 'succeeded'): Promise<string[]> {
  const body = items.map(([provider, key]) => ({ provider, [provider === 'anor' ? 'transaction_id' : 'payment_id']: key, qr_code: QR }));
  const res = await h.post('/v1/confirmations/batch', { items: body });
  expect(res.status).toBe(200);
  const ids = (res.body.results as { id: string }[]).map((r) => r.id);
  for (const id of ids) await h.waitForState(id, state);
  return ids;
}

/** Every dead letter of the harness's queues as Redis holds them, newest first (score desc, then id desc). */
async function deadInRedis(h: Harness, owner?: string): Promise<Ranked[]> {
  const queues = h.app.deadLetters.scope(owner) ?? [];
  const all: Ranked[] = [];
  for (const { queue } of queues) {
    const flat = await h.app.redis.zrange(queue.keys.failed!, 0, -1, 'WITHSCORES');
    for (let i = 0; i < flat.length; i += 2) all.push({ id: flat[i]!, score: Number(flat[i + 1]) });
  }
  return all.sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** As a batch that failed within one millisecond: the same finish time on the failed set and the job. */
async function failInOneMillisecond(h: Harness, ids: readonly string[], at: number): Promise<void> {
  for (const id of ids) {
    const { queue } = h.app.queues.forRecord(id)!;
    await h.app.redis.zadd(queue.keys.failed!, 'XX', at, id);
    await h.app.redis.hset(h.app.queues.jobKey(id), 'finishedOn', at);
  }
}

/** Pages through GET /v1/dead-letters; returns the ids in the order served and the pages' sizes. */
async function pageAll(h: Harness, query: string, limit: number): Promise<{ ids: string[]; sizes: number[] }> {
  const ids: string[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  do {
    const res = await h.get(`/v1/dead-letters?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status).toBe(200);
    ids.push(...(res.body.items as { id: string }[]).map((item) => item.id));
    sizes.push(res.body.items.length);
    cursor = res.body.next_cursor;
  } while (cursor !== null && sizes.length < 100);
  return { ids, sizes };
}


describe('GET /v1/dead-letters', () => {
  let h: Harness;
  let dead: string[];
  beforeAll(async () => {
    h = await start();
    const t = uid();
    dead = await confirmAll(
      h,
      [
        ['uzum', `reject_l1-${t}`],
        ['uzum', `reject_l2-${t}`],
        ['uzum', `reject_l3-${t}`],
        ['anor', `reject_l4-${t}`],
        ['anor', `reject_l5-${t}`],
        ['payme', `reject_l6-${t}`],
        ['payme', `reject_l7-${t}`],
        ['click', `reject_l8-${t}`],
        ['click', `reject_l9-${t}`],
      ],
      'dead',
    );
    // Five of them, across four providers, finish in one millisecond (newer than the rest), two more in another.
    const newest = Date.now() + 1000;
    await failInOneMillisecond(h, [dead[0]!, dead[3]!, dead[5]!, dead[7]!, dead[8]!], newest);
    await failInOneMillisecond(h, [dead[1]!, dead[6]!], newest - 5);
  });
  afterAll(() => h?.close());

  it('pages newest first across providers, items sharing a millisecond neither repeated nor skipped', async () => {
    const expected = await deadInRedis(h);
    expect(expected.map((r) => r.id).sort()).toEqual([...dead].sort());
    const { ids, sizes } = await pageAll(h, '', 2);
    expect(ids).toEqual(expected.map((r) => r.id));
    expect(sizes).toEqual([2, 2, 2, 2, 1]);
    // The first page is the tie of five, ordered by id.
    expect(ids.slice(0, 5).sort()).toEqual([dead[0], dead[3], dead[5], dead[7], dead[8]].sort());
  });

  it('serves each item as the record, with the error that made it dead', async () => {
    const res = await h.get('/v1/dead-letters?provider=anor&limit=1');
    expect(res.body.items).toEqual([expect.objectContaining({ provider: 'anor', state: 'dead', error: expect.objectContaining({ kind: 'rejected', code: '-31001' }) })]);
    expect(res.body.next_cursor).toEqual(expect.any(String));
  });

  it('filters by provider, with the same paging', async () => {
    const { ids } = await pageAll(h, '&provider=uzum', 2);
    expect(ids).toEqual((await deadInRedis(h, 'uzum')).map((r) => r.id));
    expect(ids).toHaveLength(3);
    expect((await h.get('/v1/dead-letters?provider=callbacks')).body).toEqual({ items: [], next_cursor: null });
  });

  it('answers 400 naming the problem for a bad cursor, limit or provider', async () => {
    const badCursor = await h.get('/v1/dead-letters?cursor=bm90LWEtY3Vyc29y');
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error).toMatchObject({ code: 'invalid_query', message: expect.stringMatching(/cursor/) });
    const badLimit = await h.get('/v1/dead-letters?limit=0');
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.message).toMatch(/limit must be a whole number from 1 to 1000/);
    const badProvider = await h.get('/v1/dead-letters?provider=paypal');
    expect(badProvider.status).toBe(400);
    expect(badProvider.body.error.message).toMatch(/provider paypal .*one of payme, uzum/);
  });

  it('needs the bearer token', async () => {
    const res = await request(`${h.url}/v1/dead-letters`);
    expect(res.statusCode).toBe(401);
    await res.body.dump();
  });
});

describe('POST /v1/dead-letters/replay and DELETE /v1/dead-letters/{id}', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start();
  });
  afterAll(() => h?.close());

  const calls = (endpoint: Endpoint, key: string) => h.sandbox.calls(endpoint).filter((c) => c.key === key).length;
  const state = async (id: string) => (await h.app.records.get(id))?.state;

  it('replays by ids: the same id runs again with fresh attempts and succeeds; the audit line names the token', async () => {
    const key = `rejectx1_r1-${uid()}`;
    const [id] = await confirmAll(h, [['uzum', key]], 'dead');
    const res = await h.post('/v1/dead-letters/replay', { ids: [id] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ replayed: 1, skipped: [] });
    const record = await h.waitForState(id!, 'succeeded');
    expect(record.history.map((e) => e.class)).toEqual(['rejected', 'success']);
    expect(calls('uzum_confirm', key)).toBe(2);
    expect(h.logs.audits().at(-1)).toMatchObject({ audit: 'replay', actor: { via: 'api', name: 'ops' }, scope: 'ids', force: false, requested: 1, replayed: 1, ids: [id], skipped: 0 });
    expect(h.logs.text).not.toContain(TOKEN);
  });

  it('replays one provider, then all, leaving the others and what needs force', async () => {
    const t = uid();
    const [u1, u2, a1] = await confirmAll(
      h,
      [
        ['uzum', `rejectx1_p1-${t}`],
        ['uzum', `rejectx1_p2-${t}`],
        ['anor', `rejectx1_p3-${t}`],
      ],
      'dead',
    );
    const customer = newCode();
    h.sandbox.program(customer, 'hangx1');
    const charge = await h.post('/v1/payments/payme', { amount: 500, qr_code: customer }, { 'idempotency-key': `order-${t}` });
    expect(charge.body).toMatchObject({ state: 'dead', error: { kind: 'ambiguous' } });

    const byProvider = await h.post('/v1/dead-letters/replay', { provider: 'uzum' });
    expect(byProvider.body).toEqual({ replayed: 2, skipped: [] });
    await h.waitForState(u1!, 'succeeded');
    await h.waitForState(u2!, 'succeeded');
    expect(await state(a1!)).toBe('dead');
    expect(h.logs.audits().at(-1)).toMatchObject({ audit: 'replay', scope: 'uzum', replayed: 2 });

    const all = await h.post('/v1/dead-letters/replay', { all: true });
    expect(all.body.replayed).toBeGreaterThanOrEqual(1);
    expect(all.body.skipped).toContainEqual({ id: charge.body.id, reason: 'needs_force', message: expect.stringMatching(/ambiguous.*force/) });
    await h.waitForState(a1!, 'succeeded');
    expect(await state(charge.body.id)).toBe('dead');
    expect(calls('payme_go', customer)).toBe(1);
    expect(h.logs.audits().at(-1)).toMatchObject({ audit: 'replay', scope: 'all', force: false, skipped_ids: expect.arrayContaining([{ id: charge.body.id, reason: 'needs_force' }]) });
  });

  it('skips an ambiguous charge without force; with force it is charged exactly once more, audit-logged', async () => {
    const customer = newCode();
    h.sandbox.program(customer, 'hangx1');
    const charge = await h.post('/v1/payments/payme', { amount: 700, qr_code: customer }, { 'idempotency-key': `order-${uid()}` });
    const id = charge.body.id as string;
    expect(charge.body).toMatchObject({ state: 'dead', error: { kind: 'ambiguous', code: 'timeout' } });

    const unforced = await h.post('/v1/dead-letters/replay', { ids: [id] });
    expect(unforced.body).toEqual({ replayed: 0, skipped: [{ id, reason: 'needs_force', message: expect.stringMatching(/may already have done it/) }] });
    expect(await state(id)).toBe('dead');
    expect(calls('payme_go', customer)).toBe(1);

    const forced = await h.post('/v1/dead-letters/replay', { ids: [id], force: true });
    expect(forced.body).toEqual({ replayed: 1, skipped: [] });
    const record = await h.waitForState(id, 'succeeded');
    expect(record.history.map((e) => e.class)).toEqual(['ambiguous', 'success']);
    expect(calls('payme_go', customer)).toBe(2);
    expect(h.logs.audits('forced_replay').filter((l) => l.ids[0] === id)).toEqual([
      expect.objectContaining({ level: 'warn', actor: { via: 'api', name: 'ops' }, queue: 'payme_go' }),
    ]);
    expect(h.logs.audits().at(-1)).toMatchObject({ audit: 'replay', force: true, replayed: 1, ids: [id] });
  });

  it('a charge refused after a forced replay still needs force: an earlier call may have charged', async () => {
    const customer = newCode();
    h.sandbox.program(customer, 'hangx1');
    const charge = await h.post('/v1/payments/payme', { amount: 900, qr_code: customer }, { 'idempotency-key': `order-${uid()}` });
    const id = charge.body.id as string;
    h.sandbox.program(customer, 'rejectx1');
    expect((await h.post('/v1/dead-letters/replay', { ids: [id], force: true })).body.replayed).toBe(1);
    const refused = await h.waitForState(id, 'dead');
    expect(refused.history.map((e) => e.class)).toEqual(['ambiguous', 'rejected']);
    expect(calls('payme_go', customer)).toBe(2);

    // The processor would refuse it without force (forced_replay_needed), so the replay says so instead of "replayed".
    const unforced = await h.post('/v1/dead-letters/replay', { ids: [id] });
    expect(unforced.body).toEqual({ replayed: 0, skipped: [{ id, reason: 'needs_force', message: expect.stringMatching(/earlier call without an answer may already have charged/) }] });
    expect((await h.app.records.get(id))?.history).toHaveLength(2);
    expect((await h.post('/v1/dead-letters/replay', { ids: [id], force: true })).body.replayed).toBe(1);
    await h.waitForState(id, 'succeeded');
    expect(calls('payme_go', customer)).toBe(3);
  });

  it('a replay of what is not dead is a no-op that says so', async () => {
    const key = `nd-${uid()}`;
    const [id] = await confirmAll(h, [['payme', key]], 'succeeded');
    const before = await h.app.records.get(id!);
    const res = await h.post('/v1/dead-letters/replay', { ids: [id, 'uzum.never-seen', 'nonsense'] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      replayed: 0,
      skipped: [
        { id, reason: 'not_dead', message: `${id} is not a dead letter (it is completed); nothing was replayed` },
        { id: 'uzum.never-seen', reason: 'not_found', message: 'no record with id uzum.never-seen' },
        { id: 'nonsense', reason: 'not_found', message: 'no record with id nonsense' },
      ],
    });
    expect(await h.app.records.get(id!)).toEqual(before);
    expect(calls('payme_confirm', key)).toBe(1);
  });

  it('replays a dead letter once when it is named twice or replayed twice at once', async () => {
    const t = uid();
    const [first, second] = await confirmAll(
      h,
      [
        ['uzum', `reject_d1-${t}`],
        ['uzum', `reject_d2-${t}`],
      ],
      'dead',
    );
    const twice = await h.post('/v1/dead-letters/replay', { ids: [first, first] });
    expect(twice.body).toEqual({ replayed: 1, skipped: [] });
    const actor = { via: 'api', name: 'race' } as const;
    const racing = await Promise.all([h.app.deadLetters.replay({ ids: [second!], actor }), h.app.deadLetters.replay({ ids: [second!], actor })]);
    expect(racing.map((r) => r.replayed).sort()).toEqual([0, 1]);
    expect(racing.flatMap((r) => r.skipped)).toEqual([{ id: second, reason: 'not_dead', message: expect.stringMatching(/no longer a dead letter|is not a dead letter/) }]);
    await h.waitForState(first!, 'dead');
    await h.waitForState(second!, 'dead');
    expect(calls('uzum_confirm', `reject_d1-${t}`)).toBe(2);
    expect(calls('uzum_confirm', `reject_d2-${t}`)).toBe(2);
  });

  it('refuses a body that is not exactly one of ids, provider or all, naming the field', async () => {
    const both = await h.post('/v1/dead-letters/replay', { ids: ['uzum.x'], all: true });
    expect(both.status).toBe(400);
    expect(both.body.error).toMatchObject({ code: 'invalid_body', message: expect.stringMatching(/exactly one of ids, provider or all/) });
    const empty = await h.post('/v1/dead-letters/replay', { ids: [] });
    expect(empty.body.error.message).toMatch(/^ids: ids must not be empty/);
    const force = await h.post('/v1/dead-letters/replay', { all: true, force: 'yes' });
    expect(force.body.error.message).toMatch(/force: force must be true or false/);
    const unknown = await h.post('/v1/dead-letters/replay', { provider: 'paypal' });
    expect(unknown.status).toBe(400);
  });

  it('removes a dead letter: 204, then the record is gone and a second DELETE is 404; audit-logged', async () => {
    const key = `reject_rm-${uid()}`;
    const [id] = await confirmAll(h, [['anor', key]], 'dead');
    expect((await del(h, `/v1/dead-letters/${id}`)).status).toBe(204);
    expect((await h.get(`/v1/confirmations/${id}`)).status).toBe(404);
    const again = await del(h, `/v1/dead-letters/${id}`);
    expect(again.status).toBe(404);
    expect(again.body.error).toMatchObject({ code: 'not_found', message: `no dead letter with id ${id}` });
    expect(h.logs.audits('remove').filter((l) => l.ids[0] === id)).toEqual([
      expect.objectContaining({ actor: { via: 'api', name: 'ops' }, queue: 'anor', count: 1, msg: 'dead letter removed' }),
    ]);
    // docs/OPERATIONS.md: a confirmation refused for its receipt is sent again corrected once its dead letter is gone.
    const corrected = await h.post('/v1/confirmations', { provider: 'anor', transaction_id: key, qr_code: OTHER_QR });
    expect(corrected).toMatchObject({ status: 202, body: { id, state: 'queued' } });
  });

  it('a removed charge is never charged again by a repeat of its request (its tombstone stays)', async () => {
    const customer = newCode();
    h.sandbox.program(customer, 'hangx1');
    const key = `order-${uid()}`;
    const charge = await h.post('/v1/payments/payme', { amount: 300, qr_code: customer }, { 'idempotency-key': key });
    expect(charge.body.state).toBe('dead');
    expect((await del(h, `/v1/dead-letters/${charge.body.id}`)).status).toBe(204);
    const repeat = await h.post('/v1/payments/payme', { amount: 300, qr_code: customer }, { 'idempotency-key': key });
    expect(repeat.body).toMatchObject({ id: charge.body.id, state: 'dead' });
    expect(calls('payme_go', customer)).toBe(1);
  });

  it('never removes what is not a dead letter', async () => {
    const [id] = await confirmAll(h, [['click', `alive-${uid()}`]], 'succeeded');
    expect((await del(h, `/v1/dead-letters/${id}`)).status).toBe(404);
    expect(await state(id!)).toBe('succeeded');
  });
});

describe('dead letters of a sharded provider (QUEUE_SHARDS=uzum=3)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { API_TOKENS: `ops:${TOKEN}`, QUEUE_SHARDS: 'uzum=3' } });
  });
  afterAll(() => h?.close());

  it('lists, replays and removes them across the shards as one provider; the CLI needs the same QUEUE_SHARDS', async () => {
    const t = uid();
    const ids = await confirmAll(
      h,
      Array.from({ length: 12 }, (_, i) => ['uzum', `rejectx1_sh${i}-${t}`] as const),
      'dead',
    );
    const perShard = await Promise.all(h.app.queues.of('uzum').map((q) => q.getFailedCount()));
    expect(perShard).toHaveLength(3);
    for (const n of perShard) expect(n).toBeGreaterThan(0);

    const { ids: listed } = await pageAll(h, '&provider=uzum', 5);
    expect(listed).toEqual((await deadInRedis(h, 'uzum')).map((r) => r.id));
    expect([...listed].sort()).toEqual([...ids].sort());

    const out: string[] = [];
    const cli = (env: Record<string, string>) =>
      runDeadCli(['list', '--provider', 'uzum', '--json'], { stdout: { write: (s: string) => out.push(s) }, stderr: { write: () => true }, loadConfig: () => loadConfig(env), user: 'tester' });
    expect(await cli(h.env)).toBe(0);
    expect(out.join('').trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(listed);
    const { QUEUE_SHARDS: _shards, ...unsharded } = h.env;
    await expect(cli(unsharded)).rejects.toThrow(/QUEUE_SHARDS/);

    const onLastShard = ids.find((id) => h.app.queues.forRecord(id)!.ref.shard === 2)!;
    expect((await del(h, `/v1/dead-letters/${onLastShard}`)).status).toBe(204);
    const replayed = await h.post('/v1/dead-letters/replay', { provider: 'uzum' });
    expect(replayed.body).toEqual({ replayed: 11, skipped: [] });
    for (const id of ids) if (id !== onLastShard) await h.waitForState(id, 'succeeded');
  });
});
