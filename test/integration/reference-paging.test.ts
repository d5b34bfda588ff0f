import { request as httpRequest, type ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type ThrowawayRedis } from '../../src/infra/redis-server.js';
import { DEAD_LETTER_INDEX_SECONDS, referenceIndexKeys } from '../../src/records/indexes.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { startRedisGate, type RedisGate } from '../helpers/redis-gate.js';
import { uid } from '../helpers/ids.js';
import { until } from '../helpers/wait.js';

/**
 * Issue 19, bounded reads: `GET /v1/confirmations?reference=` pages (limit, next_cursor) whatever the number of
 * records under one reference, each page costs what the first one costs, the read stops when its request ends, and
 * the reference index lives as long as its records (a dead letter's for as long as the dead letter).
 */

/** READ_SLICE in src/records/record-store.ts: records read at once before the request's end is looked at again. */
const READ_SLICE = 100;

const confirmations = (reference: string, tag: string, count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => ({ provider: 'payme', payment_id: `${tag}-${String(from + i).padStart(4, '0')}`, qr_code: QR, reference }));

async function accept(h: Harness, items: unknown[]): Promise<string[]> {
  const res = await h.post('/v1/confirmations/batch', { items });
  expect(res.status).toBe(200);
  const results = res.body.results as { id: string; state?: string; error?: unknown }[];
  expect(results.filter((r) => r.error)).toEqual([]);
  return results.map((r) => r.id);
}

const findPath = (reference: string, limit?: number | string, cursor?: string) =>
  `/v1/confirmations?reference=${encodeURIComponent(reference)}${limit === undefined ? '' : `&limit=${limit}`}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;

/** Follows next_cursor from the first page to the last; returns each page's ids and cursor. */
async function allPages(h: Harness, reference: string, limit: number): Promise<{ ids: string[]; next: string | null }[]> {
  const pages: { ids: string[]; next: string | null }[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const res = await h.get(findPath(reference, limit, cursor));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const page = { ids: (res.body.items as { id: string }[]).map((r) => r.id), next: res.body.next_cursor as string | null };
    pages.push(page);
    if (page.next === null) return pages;
    cursor = page.next;
  }
  throw new Error('next_cursor never became null');
}

/** The index as Redis holds it: (id, score) in the API's order, newest first, ties by id descending. */
async function indexOrder(h: Harness, reference: string): Promise<{ id: string; score: number }[]> {
  const [key] = referenceIndexKeys(h.app.queues.layout, reference);
  const flat = await h.app.redis.zrevrange(key!, 0, -1, 'WITHSCORES');
  const out: { id: string; score: number }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, score: Number(flat[i + 1]) });
  return out;
}

describe('GET /v1/confirmations?reference= reads a page at a time', () => {
  let redis: ThrowawayRedis;
  let gate: RedisGate;
  let h: Harness;

  beforeAll(async () => {
    // A Redis of its own behind a gate that counts what the app asks and can freeze it at an exact command.
    redis = await startRedisServer();
    gate = await startRedisGate(redis.url);
    h = await startHarness({ mode: 'api', sandbox: false, env: { REDIS_URL: gate.url } });
  });
  afterAll(async () => {
    gate?.release();
    await h?.close();
    await gate?.close();
    await redis?.stop();
  });

  /** Job reads (BullMQ's HGETALL of a job hash) of records whose payment id carries `tag`, since `from`. */
  const jobReads = (tag: string, from = 0) => gate.passed.slice(from).filter(({ command }) => command[0] === 'hgetall' && command[1]?.includes(`.${tag}-`)).length;

  it('250 records, 200 from one batch (one millisecond): pages of 100 hold each once, newest first, next_cursor null at the end', async () => {
    const reference = `order-${uid()}`;
    const tag = `pg${uid()}`;
    const ids = await accept(h, confirmations(reference, tag, 200));
    for (let from = 200; from < 250; from += 10) ids.push(...(await accept(h, confirmations(reference, tag, 10, from))));
    const index = await indexOrder(h, reference);
    expect(index).toHaveLength(250);
    const batchScores = new Set(index.filter((entry) => ids.slice(0, 200).includes(entry.id)).map((entry) => entry.score));
    expect(batchScores.size).toBe(1); // the 200 share one score: the cursor must tell them apart by id

    const pages = await allPages(h, reference, 100);
    expect(pages.map((page) => page.ids.length)).toEqual([100, 100, 50]);
    expect(pages.map((page) => page.next === null)).toEqual([false, false, true]);
    const seen = pages.flatMap((page) => page.ids);
    expect(new Set(seen).size).toBe(250);
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(seen).toEqual(index.map((entry) => entry.id));

    // A page size that divides the total ends with null too, not with an empty page; a small one walks the ties.
    const exact = await allPages(h, reference, 125);
    expect(exact.map((page) => [page.ids.length, page.next === null])).toEqual([
      [125, false],
      [125, true],
    ]);
    const small = await allPages(h, reference, 7);
    expect(small).toHaveLength(36);
    expect(small.flatMap((page) => page.ids)).toEqual(seen);
    // Without limit: the default page of 100.
    const first = await h.get(findPath(reference));
    expect(first.body.items).toHaveLength(100);
    expect(first.body.next_cursor).toEqual(expect.any(String));
  });

  it.each([
    ['0', /limit must be a whole number from 1 to 1000/],
    ['1001', /limit must be a whole number from 1 to 1000/],
    ['abc', /limit must be a whole number from 1 to 1000/],
    ['2.5', /limit must be a whole number from 1 to 1000/],
    ['-1', /limit must be a whole number from 1 to 1000/],
    ['', /limit must be a whole number from 1 to 1000/],
  ])('limit=%s is a 400 that says what limit takes', async (limit, message) => {
    const res = await h.get(findPath('order-x', limit));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_query', message: expect.stringMatching(message) });
  });

  it.each([
    ['not a cursor', 'garbage'],
    ['JSON of another shape', Buffer.from('{"score":1}').toString('base64url')],
    ['a score that is no number', Buffer.from('["1","x"]').toString('base64url')],
    ['an infinite score', Buffer.from('[1e400,"x"]').toString('base64url')],
    ['too long', 'x'.repeat(1001)],
  ])('a cursor that is %s is a 400 naming the cursor', async (_, cursor) => {
    const res = await h.get(`${findPath('order-x', 10)}&cursor=${cursor}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_query', message: expect.stringMatching(/cursor/) });
  });

  it('an empty cursor, reference or payment_id is a 400 naming it', async () => {
    for (const [query, field] of [
      ['reference=order-x&cursor=', 'cursor'],
      ['reference=', 'reference'],
      ['payment_id=', 'payment_id'],
    ] as const) {
      const res = await h.get(`/v1/confirmations?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.message, query).toMatch(new RegExp(`^${field} `));
    }
  });

  it('a page after a cursor costs what the first page costs, however many records share its millisecond', async () => {
    const reference = `order-${uid()}`;
    const tag = `tie${uid()}`;
    await accept(h, confirmations(reference, tag, 1000)); // one batch: 1000 records, one score
    const measure = async (cursor?: string) => {
      const [bytes, commands] = [gate.bytesFromRedis, gate.passed.length];
      const res = await h.get(findPath(reference, 10, cursor));
      expect(res.status).toBe(200);
      expect(res.body.items).toHaveLength(10);
      return { bytes: gate.bytesFromRedis - bytes, reads: jobReads(tag, commands), next: res.body.next_cursor as string };
    };
    const first = await measure();
    // Jump to the middle of the tie, then measure a page there.
    const middle = await h.get(findPath(reference, 500, first.next));
    const later = await measure(middle.body.next_cursor as string);
    process.stdout.write(`reference page bytes from Redis ${JSON.stringify({ first: first.bytes, after_510_of_1000_tied: later.bytes })}\n`);
    expect(first.reads).toBe(10);
    expect(later.reads).toBe(10);
    // Reading the tie whole would be ~1000 ids with scores (~45 kB); a page of 10 records is a few kB.
    expect(later.bytes).toBeLessThan(2 * first.bytes);
  });

  describe('the read stops when its request ends', () => {
    const reference = `order-${uid()}`;
    const tag = `stop${uid()}`;
    beforeAll(async () => {
      await accept(h, confirmations(reference, tag, 1000));
    });

    /** Waits until every command the app sent so far has been answered, and what it did next has reached the gate. */
    const settle = async () => {
      for (let round = 0; round < 3; round++) {
        await h.app.redis.ping();
        await nextTurn();
      }
    };

    it('the client hangs up mid-read: the reads in flight finish, no further ones start', async () => {
      const server = h.app.http.server;
      const sockets: Socket[] = [];
      const onConnection = (socket: Socket) => sockets.push(socket);
      server.on('connection', onConnection);
      const from = gate.passed.length;
      // The first record read goes through; the rest of its slice waits on a Redis that does not answer.
      const firstRead = gate.holdAfter(({ 0: name, 1: key }) => name === 'hgetall' && key!.includes(`.${tag}-`));
      const url = new URL(h.url + findPath(reference, 1000));
      let req: ClientRequest | undefined;
      const localPort = new Promise<number>((resolve) => {
        req = httpRequest(url, { agent: false, headers: { authorization: `Bearer ${h.env.API_TOKENS?.split(',')[0] ?? ''}` } });
        req.on('error', () => undefined);
        req.on('socket', (socket) => socket.on('connect', () => resolve(socket.localPort!)));
        req.end();
      });
      const port = await localPort;
      await firstRead;
      await gate.holding();
      // The client hangs up; wait until the server has seen its socket close (the request's signal aborts then).
      const serverSide = sockets.find((socket) => socket.remotePort === port);
      expect(serverSide).toBeDefined();
      const closed = new Promise((resolve) => serverSide!.once('close', resolve));
      req!.destroy();
      await closed;
      server.off('connection', onConnection);
      await nextTurn();
      gate.release();
      await settle();
      const reads = jobReads(tag, from);
      process.stdout.write(`reference read after hang-up: ${reads} of 1000 records read\n`);
      expect(reads).toBeGreaterThan(0);
      expect(reads).toBeLessThanOrEqual(READ_SLICE);
    });

    it('Redis freezes mid-read: 503 within 5 s of arrival, and once it answers no further reads start', async () => {
      const from = gate.passed.length;
      // Redis is slow (2 s) to give the index, then freezes at the first record read: the request's deadline (4.5 s
      // from arrival) comes before the frozen reads' own commandTimeout (4 s from when they were sent).
      gate.holdNow();
      const started = Date.now();
      const answer = h.get(findPath(reference, 1000));
      await gate.holding();
      await sleep(2000); // the slow Redis itself, not a wait for an event
      const firstRead = gate.holdAfter(({ 0: name, 1: key }) => name === 'hgetall' && key!.includes(`.${tag}-`));
      gate.release();
      await firstRead;
      const frozenAt = Date.now();
      const res = await answer;
      const ms = Date.now() - started;
      gate.release();
      const releasedAfter = Date.now() - frozenAt;
      await settle();
      const reads = jobReads(tag, from);
      process.stdout.write(`reference read frozen mid-read: 503 after ${ms} ms; ${reads} of 1000 records read\n`);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
      expect(ms).toBeLessThan(5000);
      // The reads in flight were answered (released before their commandTimeout), so only the request's end stopped
      // the next slice.
      expect(releasedAfter, 'released before the frozen reads timed out: the test proves nothing otherwise').toBeLessThan(4000);
      expect(reads).toBeGreaterThan(0);
      expect(reads).toBeLessThanOrEqual(READ_SLICE);
    });
  });
});

describe('the reference index lives as long as its records', () => {
  let h: Harness;
  beforeAll(async () => {
    // RETENTION_DAYS 0.00002 ≈ 2 s (the sweep then runs every second); a slow provider call outlasts it.
    h = await startHarness({ env: { RETENTION_DAYS: '0.00002', PROVIDER_TIMEOUT_MS: '6000' } });
  });
  afterAll(() => h?.close());

  const indexKey = (reference: string) => referenceIndexKeys(h.app.queues.layout, reference)[0]!;
  const found = async (reference: string) => ((await h.get(findPath(reference))).body.items as { id: string }[]).map((r) => r.id).sort();

  it('succeeded records and their index expire together; a dead letter keeps its entry and is still found', async () => {
    const run = uid();
    const onlySucceeded = `order-ok-${run}`;
    const withDead = `order-dead-${run}`;
    const slow = `order-slow-${run}`;
    const [okIds, mixedIds, slowIds] = [
      await accept(h, confirmations(onlySucceeded, `ok${run}`, 3)),
      await accept(h, [...confirmations(withDead, `mx${run}`, 2), { provider: 'uzum', payment_id: `reject_${run}`, qr_code: QR, reference: withDead }]),
      // Succeeds 2.6 s after it was accepted: later than the retention counted from acceptance.
      await accept(h, [{ provider: 'payme', payment_id: `slow2600_${run}`, qr_code: QR, reference: slow }]),
    ];
    const deadId = mixedIds[2]!;
    const succeeded = [...okIds, ...mixedIds.slice(0, 2), ...slowIds];
    await Promise.all([...okIds, ...mixedIds.slice(0, 2)].map((id) => h.waitForState(id, 'succeeded')));
    await h.waitForState(deadId, 'dead');
    // The dead letter's index lives as long as it does (CONTRACT §5: never removed automatically).
    await until('the dead letter to extend its index', async () => (await h.app.redis.ttl(indexKey(withDead))) > DEAD_LETTER_INDEX_SECONDS - 60);

    // A record that finished after the retention had passed since its acceptance is still found by its reference.
    // Its index is kept by the worker right after the record's end is stored (off the job's path), so it is waited for
    // like the dead letter's: the index made at acceptance expired at 1.7 s, before this record ended.
    await h.waitForState(slowIds[0]!, 'succeeded', 10_000);
    expect(await until('the slow record found by its reference', async () => {
      const ids = await found(slow);
      return ids.length > 0 && ids;
    })).toEqual(slowIds);

    // Once RETENTION_DAYS have passed, the succeeded records are gone ...
    await until('the succeeded records to leave', async () => (await Promise.all(succeeded.map((id) => h.app.records.get(id)))).every((r) => r === undefined));
    // ... and so are the indexes that held only them (not left behind for ever) ...
    await until('the indexes of succeeded records to expire', async () => (await h.app.redis.exists(indexKey(onlySucceeded), indexKey(slow))) === 0, 3000);
    expect(await found(onlySucceeded)).toEqual([]);
    // ... while the dead letter's entry stays and still finds it; the entries of records gone are dropped on the way.
    expect(await found(withDead)).toEqual([deadId]);
    expect((await h.app.records.get(deadId))?.state).toBe('dead');
    await until('gone ids to leave the index', async () => (await h.app.redis.zcard(indexKey(withDead))) === 1);
    expect(await h.app.redis.ttl(indexKey(withDead))).toBeGreaterThan(DEAD_LETTER_INDEX_SECONDS - 600);
  }, 30_000);
});
