import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../config/env.js';
import type { Provider } from '../domain/provider.js';
import { HISTORY_LIMIT } from '../domain/attempt.js';
import type { RedisClient } from './redis.js';

/**
 * BullMQ never decides on its own that a job is dead: the processor counts the attempts of the current run from the
 * job's history (so a replay from Bull Board, which keeps `attemptsMade`, still gets fresh attempts) and fails the
 * job itself when the run is used up. This ceiling only guards against a processor bug retrying forever.
 */
export const BULLMQ_ATTEMPTS_CEILING = 10_000;

export function defaultJobOptions(config: Readonly<Config>): JobsOptions {
  return {
    attempts: BULLMQ_ATTEMPTS_CEILING,
    backoff: { type: 'fiscal' },
    // Finished confirmations answer duplicates and status look-ups for RETENTION_DAYS; dead letters stay until an
    // operator removes them (CONTRACT §5).
    removeOnComplete: { age: config.retentionSeconds },
    removeOnFail: false,
    stackTraceLimit: HISTORY_LIMIT,
  };
}

/** One queue per provider, so one provider's outage never holds another's jobs. */
export class ProviderQueues {
  private readonly queues = new Map<Provider, Queue>();

  constructor(
    private readonly connection: RedisClient,
    private readonly config: Readonly<Config>,
  ) {}

  get(provider: Provider): Queue {
    let queue = this.queues.get(provider);
    if (!queue) {
      queue = new Queue(provider, {
        connection: this.connection,
        prefix: this.config.queuePrefix,
        defaultJobOptions: defaultJobOptions(this.config),
      });
      // Errors surface on the calls that failed; the queue's own emitter must not crash the process.
      queue.on('error', () => undefined);
      this.queues.set(provider, queue);
    }
    return queue;
  }

  all(providers: readonly Provider[]): Queue[] {
    return providers.map((p) => this.get(p));
  }

  /** `<prefix>:<queue>:<id>`, BullMQ's job hash; the enqueue script reads it to tell duplicates from new work. */
  jobKey(provider: Provider, id: string): string {
    return `${this.config.queuePrefix}:${provider}:${id}`;
  }

  key(...parts: string[]): string {
    return [this.config.queuePrefix, ...parts].join(':');
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
