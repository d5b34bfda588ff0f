import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { BadCursorError, pageNewestFirst } from '../../src/records/paging.js';

/**
 * records/paging.ts against real Redis and a model: newest first across several sorted sets (a provider's dead letters
 * in each of its shards, a reference's records in each queue slot), ties told apart by member, nothing skipped or
 * repeated, also when the cursor's own member was removed between two pages (issue 19).
 */

const prefix = `test-paging-${randomUUID().slice(0, 8)}`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

interface Item {
  key: string;
  member: string;
  score: number;
}

const order = (a: Item, b: Item) => b.score - a.score || (a.member < b.member ? 1 : a.member > b.member ? -1 : 0);

/** A seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

async function fill(keys: string[], items: Item[]): Promise<void> {
  await redis.del(...keys);
  for (const item of items) await redis.zadd(item.key, item.score, item.member);
}

async function walk(keys: string[], limit: number, between?: (last: Item) => Promise<void>): Promise<Item[][]> {
  const pages: Item[][] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await pageNewestFirst(redis, keys, limit, cursor);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    pages.push(page.items);
    if (page.next === null) return pages;
    await between?.(page.items.at(-1)!);
    cursor = page.next;
  }
  throw new Error('never ended');
}

describe('pageNewestFirst', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('walks several sets with many ties exactly once, newest first (seed %i)', async (seed) => {
    const next = random(seed);
    const keys = Array.from({ length: 1 + Math.floor(next() * 3) }, (_, i) => `${prefix}:${seed}:${i}`);
    // Few distinct scores, so most items tie; members of varied length and case (byte order, not locale).
    const items: Item[] = [];
    const members = new Set<string>();
    for (let i = 0; i < 20 + Math.floor(next() * 120); i++) {
      const member = `${['a', 'B', 'payme.', 'uzum.~', 'Z'][Math.floor(next() * 5)]}${Math.floor(next() * 1000)}`;
      if (members.has(member)) continue;
      members.add(member);
      items.push({ key: keys[Math.floor(next() * keys.length)]!, member, score: 1_700_000_000_000 + Math.floor(next() * 4) });
    }
    await fill(keys, items);
    const limit = 1 + Math.floor(next() * 25);
    const pages = await walk(keys, limit);
    const expected = [...items].sort(order);
    expect(pages.flat()).toEqual(expected);
    expect(pages.slice(0, -1).every((page) => page.length === limit)).toBe(true);
  });

  it('goes on after the cursor even when its member was removed between the pages', async () => {
    const key = `${prefix}:removed`;
    const items: Item[] = Array.from({ length: 60 }, (_, i) => ({ key, member: `m${String(i).padStart(2, '0')}`, score: 1000 + Math.floor(i / 20) }));
    await fill([key], items);
    const removed: string[] = [];
    const pages = await walk([key], 7, async (last) => {
      removed.push(last.member);
      await redis.zrem(key, last.member);
    });
    // Every item once: removing the cursor's member moves nothing that comes after it.
    expect(pages.flat()).toEqual([...items].sort(order));
    expect(removed.length).toBe(pages.length - 1);
  });

  it('an empty set is one empty page; a foreign cursor is refused', async () => {
    expect(await pageNewestFirst(redis, [`${prefix}:none`], 10)).toEqual({ items: [], next: null });
    await expect(pageNewestFirst(redis, [`${prefix}:none`], 10, 'bm90IG91cnM')).rejects.toBeInstanceOf(BadCursorError);
  });
});
