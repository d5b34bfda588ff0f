import type { RedisClient } from '../infra/redis.js';

/**
 * Tells a new confirmation from a repeat atomically, before BullMQ's add (which silently ignores an existing job id
 * and so cannot say which one happened). The BullMQ job hash is the record while it exists; the short-lived claim key
 * only covers the moment between this script and the add, so two racing requests never both answer "created", and a
 * request that died in between is completed by the next repeat (the add is idempotent on the job id).
 *
 * KEYS[1] job hash  KEYS[2] claim key  KEYS[3] reference index (optional)
 * ARGV[1] fingerprint of the request  ARGV[2] claim ttl (s)  ARGV[3] record id  ARGV[4] reference ttl (s)
 * → {'exists', <job data JSON>} | {'claimed'} | {'pending'} | {'pending_conflict'}
 */
const CLAIM_LUA = `
local data = redis.call('HGET', KEYS[1], 'data')
if data then return {'exists', data} end
local claimed = redis.call('GET', KEYS[2])
if claimed then
  if claimed == ARGV[1] then return {'pending'} end
  return {'pending_conflict'}
end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
if KEYS[3] then
  redis.call('SADD', KEYS[3], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
return {'claimed'}
`;

export type ClaimAnswer = { kind: 'exists'; data: string } | { kind: 'claimed' | 'pending' | 'pending_conflict' };

interface WithClaim {
  fiscalClaim(...args: (string | number)[]): Promise<string[]>;
}

export const CLAIM_TTL_SECONDS = 600;

export function defineClaimScript(redis: RedisClient): void {
  if (!(redis as unknown as Partial<WithClaim>).fiscalClaim) redis.defineCommand('fiscalClaim', { lua: CLAIM_LUA });
}

/**
 * Once the job is added its hash answers repeats, so the claim has done its work; without this it would hold memory
 * for CLAIM_TTL_SECONDS per accepted item. Best effort and off the answer's path: a claim left behind expires anyway.
 */
export function releaseClaims(redis: RedisClient, claimKeys: readonly string[]): void {
  for (const key of claimKeys) void redis.unlink(key).catch(() => undefined);
}

export async function claim(
  redis: RedisClient,
  keys: { job: string; claim: string; reference?: string | undefined },
  args: { fingerprint: string; recordId: string; referenceTtlSeconds: number },
): Promise<ClaimAnswer> {
  const keyList = keys.reference ? [keys.job, keys.claim, keys.reference] : [keys.job, keys.claim];
  const reply = await (redis as unknown as WithClaim).fiscalClaim(
    keyList.length,
    ...keyList,
    args.fingerprint,
    CLAIM_TTL_SECONDS,
    args.recordId,
    args.referenceTtlSeconds,
  );
  if (reply[0] === 'exists') return { kind: 'exists', data: reply[1] ?? '{}' };
  return { kind: reply[0] as 'claimed' | 'pending' | 'pending_conflict' };
}
