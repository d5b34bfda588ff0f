import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export type RedisRole = 'api' | 'worker';

/** One Redis, or a Redis Cluster when REDIS_CLUSTER=true: BullMQ, the claim script and the record reads take either. */
export type RedisClient = Redis | Cluster;

export interface RedisTargetOptions {
  /** REDIS_CLUSTER: the URL names one node of a Redis Cluster; ioredis discovers the others (CLUSTER SLOTS). */
  cluster?: boolean;
  extra?: RedisOptions;
}

/**
 * `worker` connections block on BullMQ's marker keys and must wait forever (maxRetriesPerRequest: null, BullMQ's
 * requirement). `api` connections must fail fast instead, so a request that would store something answers 503 within
 * the contract's 5 seconds while Redis is away, and auto-pipelining folds concurrent requests into one round trip.
 *
 * While the connection is down, ioredis parks commands in its offline queue. With maxRetriesPerRequest 0 they fail at
 * the next failed reconnection attempt (retries are at most 2 s apart; connectTimeout keeps an attempt to an address
 * that drops packets as short), and commandTimeout bounds a Redis that holds the connection open but never answers
 * (measured in test/integration/redis-faults.test.ts: docs/RELIABILITY.md). The queue itself stays, so the
 * first commands of a process still wait for its first connection.
 */
export function createRedis(url: string, role: RedisRole, options: RedisTargetOptions = {}): RedisClient {
  const retryStrategy = (times: number) => Math.min(times * 200, 2000);
  const common: RedisOptions = { connectionName: `fiscal-worker:${role}`, lazyConnect: false };
  const byRole: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: false }
      : { maxRetriesPerRequest: 0, connectTimeout: 2000, commandTimeout: 4000, enableAutoPipelining: true };
  if (!options.cluster) return new Redis(url, { ...common, retryStrategy, ...byRole, ...options.extra });
  // A cluster: per-node settings (timeouts, credentials, TLS) go in redisOptions; reconnecting is the cluster's job.
  const { enableAutoPipelining, ...nodeOptions } = byRole;
  const seed = new URL(url);
  const clusterOptions: ClusterOptions = {
    clusterRetryStrategy: retryStrategy,
    ...(enableAutoPipelining ? { enableAutoPipelining } : {}),
    redisOptions: {
      ...common,
      ...nodeOptions,
      ...(seed.username ? { username: decodeURIComponent(seed.username) } : {}),
      ...(seed.password ? { password: decodeURIComponent(seed.password) } : {}),
      ...(seed.protocol === 'rediss:' ? { tls: {} } : {}),
      ...options.extra,
    },
  };
  return new Cluster([{ host: seed.hostname.replace(/^\[|\]$/g, ''), port: Number(seed.port || 6379) }], clusterOptions);
}

/** Redis did not answer: the caller must say so (503), never "accepted" for something not stored. */
export class UnavailableError extends Error {
  constructor(cause: unknown, message = 'Redis is not answering; nothing was stored, retry later') {
    super(message, { cause });
    this.name = 'UnavailableError';
  }
}

/** Best effort: quit politely, disconnect if Redis does not answer. */
export async function closeRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await Promise.race([redis.quit(), new Promise((_, reject) => setTimeout(reject, 1000).unref())]);
  } catch {
    redis.disconnect();
  }
}
