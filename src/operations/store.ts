import type { Config } from '../config/env.js';
import type { Layout } from '../infra/layout.js';
import { refuseOtherStoredShards } from '../infra/layout-store.js';
import { ProviderQueues } from '../infra/queues.js';
import { closeRedis, createRedis, type RedisClient } from '../infra/redis.js';
import { layoutOf } from '../providers/index.js';

/** What a command-line tool works on: the deployment's Redis, its layout and its provider queues. */
export interface Store {
  redis: RedisClient;
  layout: Layout;
  queues: ProviderQueues;
  close(): Promise<void>;
}

/** Thrown when Redis does not answer in time: a CLI says so and exits 2 instead of waiting forever. */
export class StoreUnavailableError extends Error {}

const PING_MS = 5000;

/**
 * Opens the store for a CLI (`reconcile`, `enqueue`, `dead`): an api-role connection (it fails fast), a ping bounded
 * by 5 s (ioredis parks commands until it connects, and a cluster client parks them without any timeout), then the
 * deployment's layout, which a cluster or a sharded deployment reads from Redis (and which a CLI, having Redis, checks
 * even when its own QUEUE_SHARDS is unset).
 */
export async function openStore(config: Readonly<Config>, options: { commandTimeoutMs?: number } = {}): Promise<Store> {
  const redis = createRedis(config.redisUrl, 'api', { cluster: config.redisCluster, ...(options.commandTimeoutMs ? { extra: { commandTimeout: options.commandTimeoutMs } } : {}) });
  let lastError = '';
  redis.on('error', (err: Error) => (lastError = err.message));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PING_MS / 1000} s`)), PING_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    const layout = await layoutOf(config, redis);
    await refuseOtherStoredShards(redis, layout);
    const queues = new ProviderQueues(redis, layout);
    return {
      redis,
      layout,
      queues,
      async close() {
        await queues.close();
        await closeRedis(redis);
      },
    };
  } catch (err) {
    await closeRedis(redis);
    if (err instanceof Error && err.name === 'ConfigError') throw err;
    throw new StoreUnavailableError(`Redis at REDIS_URL does not answer: ${(err as Error).message}${lastError ? ` (${lastError})` : ''}`, { cause: err });
  }
}
