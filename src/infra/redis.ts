import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'api' | 'worker';

/**
 * `worker` connections block on BullMQ's marker keys and must wait forever (maxRetriesPerRequest: null, BullMQ's
 * requirement). `api` connections must fail fast instead, so a request that would store something answers 503 within
 * the contract's 5 seconds while Redis is away, and auto-pipelining folds concurrent requests into one round trip.
 */
export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const common: RedisOptions = {
    connectionName: `fiscal-worker:${role}`,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
  };
  const byRole: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: false }
      : { maxRetriesPerRequest: 1, commandTimeout: 4000, enableAutoPipelining: true };
  return new Redis(url, { ...common, ...byRole, ...extra });
}

/** Best effort: quit politely, disconnect if Redis does not answer. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await Promise.race([redis.quit(), new Promise((_, reject) => setTimeout(reject, 1000).unref())]);
  } catch {
    redis.disconnect();
  }
}
