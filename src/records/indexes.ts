import type { Layout, QueueRef } from '../infra/layout.js';
import type { RedisClient } from '../infra/redis.js';

/**
 * The `reference` index (CONTRACT §3 `GET /v1/confirmations?reference=`): per queue slot, a sorted set of record ids
 * scored by acceptance time, so a look-up pages through it newest first (records/paging.ts). It lives as long as the
 * records it points to: RETENTION_DAYS from its newest record (every add extends it, never shortens it), and as long
 * as a dead letter it holds (a dead letter extends it to DEAD_LETTER_INDEX_SECONDS; dead letters are never removed
 * automatically, CONTRACT §5). Ids whose record is gone are dropped when a look-up meets them.
 */
export function referenceIndexKey(layout: Layout, ref: QueueRef, reference: string): string {
  return layout.key(ref, 'refs', reference);
}

/** Every index key of a reference: one per queue slot (one key in all on a single Redis). */
export function referenceIndexKeys(layout: Layout, reference: string): string[] {
  return [...new Set(layout.all().map((ref) => referenceIndexKey(layout, ref, reference)))];
}

/** "Forever" for a Redis TTL: fifty years. A dead letter's index must outlive it; a TTL still bounds a leak. */
export const DEAD_LETTER_INDEX_SECONDS = 50 * 365 * 86_400;

const KEEP_LUA = `local ttl = redis.call('TTL', KEYS[1])
if ttl == -2 then return 0 end
if ttl < tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 1`;

interface WithKeep {
  fiscalIndexKeep(key: string, seconds: number): Promise<number>;
}

/** Makes an index live at least `seconds` more (a dead letter's: its record stays until an operator removes it). */
export async function keepIndex(redis: RedisClient, key: string, seconds: number): Promise<void> {
  if (!('fiscalIndexKeep' in redis)) redis.defineCommand('fiscalIndexKeep', { numberOfKeys: 1, lua: KEEP_LUA });
  await (redis as unknown as WithKeep).fiscalIndexKeep(key, seconds);
}
