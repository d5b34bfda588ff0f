import type { Config } from '../config/env.js';
import type { Layout } from './layout.js';
import { ProviderQueues } from './queues.js';
import { closeRedis, createRedis, type RedisClient } from './redis.js';

/** How long a command waits for Redis's first answer before it says Redis is away (exit 2). */
export const REDIS_PING_MS = 5000;

/** The queues a one-shot command (`enqueue`, `reconcile`, `dead`) works on, over one `api` connection. */
export interface CommandStore {
  redis: RedisClient;
  queues: ProviderQueues;
  /** The connection's last error, to explain a command that failed mid-run (empty when none). */
  lastError(): string;
  /** The queues, then the connection; never throws. */
  close(): Promise<void>;
}

/** Redis did not answer the first ping: the command cannot run. */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * Opens the store the way the API does (an `api` connection: fail fast) and pings it first. ioredis parks commands
 * until it connects, and BullMQ waits for a connection forever, so without the ping a command against a Redis that is
 * away would hang instead of saying so. `commandTimeoutMs` widens the API's per-command timeout for long batches.
 */
export async function openCommandStore(
  config: Pick<Config, 'redisUrl' | 'redisCluster'>,
  layout: Layout,
  options: { commandTimeoutMs?: number } = {},
): Promise<CommandStore> {
  const redis = createRedis(config.redisUrl, 'api', {
    cluster: config.redisCluster,
    ...(options.commandTimeoutMs ? { extra: { commandTimeout: options.commandTimeoutMs } } : {}),
  });
  let lastError = '';
  redis.on('error', (err: Error) => (lastError = err.message));
  const queues = new ProviderQueues(redis, layout);
  const store: CommandStore = {
    redis,
    queues,
    lastError: () => lastError,
    async close() {
      await queues.close();
      await closeRedis(redis);
    },
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_PING_MS / 1000} s`)), REDIS_PING_MS);
      }),
    ]);
  } catch (err) {
    await store.close();
    throw new StoreUnavailableError(`Redis at REDIS_URL does not answer: ${(err as Error).message}${lastError ? ` (${lastError})` : ''}`);
  } finally {
    clearTimeout(timer);
  }
  return store;
}
