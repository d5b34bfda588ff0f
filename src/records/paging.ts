import { luaScript, runLua } from '../infra/lua.js';
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
 * batch) are neither skipped nor repeated. Each set costs one read of at most `limit + 1` items per page, however many
 * items share the cursor's score (issue 19: reading the whole tie cost a 1000-item batch ~50 kB on every page).
 */
export async function pageNewestFirst(redis: RedisClient, keys: readonly string[], limit: number, cursor?: string): Promise<Page> {
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  const perKey = await Promise.all(keys.map((key) => readKey(redis, key, limit, after)));
  const merged = perKey.flat().sort(newestFirst);
  const items = merged.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next: merged.length > limit && last ? encodeCursor(last) : null };
}

/**
 * KEYS[1] a sorted set; ARGV[1] score, ARGV[2] member, ARGV[3] count → up to `count` items (flat, with scores)
 * strictly after (score, member) in (score desc, member desc) order, whether or not that member is still there. The
 * items with a higher score come first (ZCOUNT); among the tie, a binary search over ranks finds the first member
 * below the cursor's; then one range by rank. Every step is O(log N), so a page costs the same wherever it starts.
 * Members are compared byte by byte, the order Redis keeps ties in (Lua's own < follows the server's locale).
 */
const PAGE_AFTER = luaScript(
  `local key, score, member = KEYS[1], ARGV[1], ARGV[2]
local function before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local lo = redis.call('ZCOUNT', key, '(' .. score, '+inf')
local hi = lo + redis.call('ZCOUNT', key, score, score)
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  if before(redis.call('ZREVRANGE', key, mid, mid)[1], member) then hi = mid else lo = mid + 1 end
end
return redis.call('ZREVRANGE', key, lo, lo + tonumber(ARGV[3]) - 1, 'WITHSCORES')`,
  1,
);

async function readKey(redis: RedisClient, key: string, limit: number, after: { score: number; member: string } | undefined): Promise<Ranked[]> {
  if (!after) return ranked(key, await redis.zrevrange(key, 0, limit, 'WITHSCORES'));
  return ranked(key, await runLua<string[]>(redis, PAGE_AFTER, [key], [String(after.score), after.member, limit + 1]));
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
