import type { RedisClient } from '../infra/redis.js';

/** One member of a sorted set, with the set it came from. */
export interface Ranked {
  key: string;
  member: string;
  score: number;
}

export interface Page {
  items: Ranked[];
  /** Opaque; `null` when this page holds the last items. */
  next: string | null;
}

/**
 * Newest first across several sorted sets scored by time (a provider's dead letters in each of its queues, a
 * reference's records in each queue slot), `limit` at a time. The cursor is the last item's (score, member): the next
 * page takes what comes strictly after it in (score desc, member desc) order, so items that share a millisecond (a
 * batch) are neither skipped nor repeated. Each set costs two bounded reads per page: the items that share the cursor's
 * score, and the next `limit + 1` below it.
 */
export async function pageNewestFirst(redis: RedisClient, keys: readonly string[], limit: number, cursor?: string): Promise<Page> {
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  const perKey = await Promise.all(keys.map((key) => readKey(redis, key, limit, after)));
  const merged = perKey.flat().sort(newestFirst);
  const items = merged.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next: merged.length > limit && last ? encodeCursor(last) : null };
}

async function readKey(redis: RedisClient, key: string, limit: number, after: { score: number; member: string } | undefined): Promise<Ranked[]> {
  if (!after) return ranked(key, await redis.zrevrangebyscore(key, '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1));
  const [ties, below] = await Promise.all([
    redis.zrevrangebyscore(key, after.score, after.score, 'WITHSCORES'),
    redis.zrevrangebyscore(key, `(${after.score}`, '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1),
  ]);
  return [...ranked(key, ties).filter((item) => item.member < after.member), ...ranked(key, below)];
}

function ranked(key: string, flat: string[]): Ranked[] {
  const out: Ranked[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ key, member: flat[i]!, score: Number(flat[i + 1]) });
  return out;
}

function newestFirst(a: Ranked, b: Ranked): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.member < b.member ? 1 : a.member > b.member ? -1 : 0;
}

function encodeCursor(item: Ranked): string {
  return Buffer.from(JSON.stringify([item.score, item.member])).toString('base64url');
}

/** Thrown for a cursor this code did not hand out; the API answers 400. */
export class BadCursorError extends Error {
  constructor() {
    super('cursor is not one this API handed out; start again without it');
    this.name = 'BadCursorError';
  }
}

function decodeCursor(cursor: string): { score: number; member: string } {
  try {
    const [score, member] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof score === 'number' && Number.isFinite(score) && typeof member === 'string') return { score, member };
  } catch {
    // fall through
  }
  throw new BadCursorError();
}
