import type { Layout, QueueRef } from '../infra/layout.js';
import { luaScript, runLua } from '../infra/lua.js';
import type { RedisClient } from '../infra/redis.js';

/**
 * The `reference` index (CONTRACT §3 `GET /v1/confirmations?reference=`): per queue slot, a sorted set of record ids
 * scored by acceptance time, so a look-up pages through it newest first (records/paging.ts). It lives as long as the
 * records it points to: RETENTION_DAYS from its newest record (every add extends it, never shortens it), as long as a
 * record that finished late (keepInIndex), and as long as a dead letter it holds (a dead letter extends it to
 * DEAD_LETTER_INDEX_SECONDS; dead letters are never removed automatically, CONTRACT §5). Ids whose record is gone are
 * dropped when a look-up meets them.
 */
export function referenceIndexKey(layout: Layout, ref: QueueRef, reference: string): string {
  return layout.key(ref, 'refs', reference);
}

/** Every index key of a reference: one per queue slot (one key in all on a single Redis). */
export function referenceIndexKeys(layout: Layout, reference: string): string[] {
  return [...new Set(layout.all().map((ref) => referenceIndexKey(layout, ref, reference)))];
}

/**
 * Whether a job that just succeeded must extend its reference index. A succeeded record lives RETENTION_DAYS from when
 * it finished, its index from when it was accepted, so a job that took long (retries, an open circuit) would drop out
 * of reference look-ups before its record is gone. Extending costs a write, so only a job that took longer than a
 * minute (or 1 % of RETENTION_DAYS, when that is shorter) does it; any other leaves look-ups at most that early.
 */
export function successOutlivesIndex(acceptedAt: number, finishedAt: number, retentionSeconds: number): boolean {
  return finishedAt - acceptedAt > Math.min(60_000, retentionSeconds * 10);
}

/** "Forever" for a Redis TTL: fifty years. A dead letter's index must outlive it; a TTL still bounds a leak. */
export const DEAD_LETTER_INDEX_SECONDS = 50 * 365 * 86_400;

// ZADD NX: an entry still there keeps its place (its acceptance time); one the index lost when it expired is put back.
const KEEP = luaScript(
  `redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return 1`,
  1,
);

/**
 * Keeps a record in its reference index and makes the index live at least `seconds` more: a dead letter's for as long
 * as the dead letter (an operator removes it), a slow success's as long as its record. A job may end after the index
 * it was added to has expired (it took longer than RETENTION_DAYS), so the entry is put back, at its acceptance time.
 */
export async function keepInIndex(redis: RedisClient, key: string, entry: { recordId: string; acceptedAt: number }, seconds: number): Promise<void> {
  await runLua(redis, KEEP, [key], [entry.acceptedAt, entry.recordId, seconds]);
}
