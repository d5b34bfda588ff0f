import { Queue } from 'bullmq';
import type { Provider } from '../domain/provider.js';
import type { Layout, QueueRef } from './layout.js';
import { closeRedis, type RedisClient } from './redis.js';

/**
 * One BullMQ queue per provider (and per shard of a sharded one), so one provider's outage never holds another's jobs.
 * Jobs carry no options of their own: the retry policy and retention are the worker's (workers/run-policy.ts), which
 * keeps every job's hash small (issue 18: BullMQ stores a job's options with every job).
 */
export class ProviderQueues {
  private readonly queues = new Map<string, Queue>();
  private intake: RedisClient | undefined;

  constructor(
    private readonly connection: RedisClient,
    readonly layout: Layout,
  ) {}

  /** The BullMQ queue behind a ref. */
  queue(ref: QueueRef): Queue {
    let queue = this.queues.get(ref.name);
    if (!queue) {
      queue = new Queue(ref.name, { connection: this.connection, prefix: ref.prefix });
      // Errors surface on the calls that failed; the queue's own emitter must not crash the process.
      queue.on('error', () => undefined);
      this.queues.set(ref.name, queue);
    }
    return queue;
  }

  /** A provider's queue; a sharded provider has several, so this is for providers that are never sharded (money). */
  get(provider: Provider): Queue {
    const refs = this.layout.queues(provider);
    if (refs.length !== 1) throw new Error(`${provider} has ${refs.length} shards: pick one with forRecord() or of()`);
    return this.queue(refs[0]!);
  }

  /** Every queue of a provider (its shards). */
  of(provider: Provider): Queue[] {
    return this.layout.queues(provider).map((ref) => this.queue(ref));
  }

  all(providers?: readonly Provider[]): Queue[] {
    return this.layout.all(providers).map((ref) => this.queue(ref));
  }

  /** The queue a record lives in, if its id names a provider. */
  forRecord(recordId: string): { ref: QueueRef; queue: Queue } | undefined {
    const ref = this.layout.queueOfRecord(recordId);
    return ref ? { ref, queue: this.queue(ref) } : undefined;
  }

  /** The connection BullMQ's queues use, and define their scripts on. */
  get queueConnection(): RedisClient {
    return this.connection;
  }

  /**
   * A second connection, for the intake's MULTIs (producers/transaction.ts): ioredis copies every script a connection
   * knows onto each MULTI built on it, and BullMQ defines some sixty on the queues' connection; that copy cost a single
   * POST more than the rest of its work (docs/BENCHMARKS.md). Made on first use; its errors surface on its commands.
   */
  get intakeConnection(): RedisClient {
    if (!this.intake) {
      this.intake = this.connection.duplicate() as RedisClient;
      this.intake.on('error', () => undefined);
    }
    return this.intake;
  }

  /** BullMQ's job hash of a record (tests and benchmarks read it directly). */
  jobKey(recordId: string): string {
    const ref = this.layout.queueOfRecord(recordId);
    if (!ref) throw new Error(`${recordId} is not a record id`);
    return this.layout.jobKey(ref, recordId);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
    if (this.intake) await closeRedis(this.intake);
    this.intake = undefined;
  }
}
