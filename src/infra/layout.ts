import { createHash } from 'node:crypto';
import { providerOfRecordId } from '../domain/ids.js';
import { PROVIDERS, isProvider, type Provider } from '../domain/provider.js';

/** One BullMQ queue: a provider's, or one shard of it (QUEUE_SHARDS). */
export interface QueueRef {
  provider: Provider;
  shard: number;
  /** BullMQ queue name: the provider's name, `<provider>-<shard>` for shards after the first. */
  name: string;
  /** BullMQ prefix of this queue; every key of ours that a script touches together with the queue's starts with it. */
  prefix: string;
}

export interface LayoutOptions {
  queuePrefix: string;
  /** REDIS_CLUSTER: every queue gets a hash slot of its own. */
  cluster: boolean;
  /** QUEUE_SHARDS per provider (absent: 1). */
  shards?: Readonly<Partial<Record<Provider, number>>>;
  /**
   * On a cluster, the hash tag of each queue by name (infra/layout-store.ts chooses them once per deployment so the
   * queues spread over the masters); a queue without one is tagged with its name.
   */
  tags?: Readonly<Record<string, string>>;
}

/**
 * Where every key lives (issue 18). On one Redis the layout is the one the product always had: BullMQ keys
 * `<QUEUE_PREFIX>:<queue>:…` and ours `<QUEUE_PREFIX>:<kind>:…`. On a Redis Cluster each queue's prefix carries a hash
 * tag of its own, `<QUEUE_PREFIX>:{<tag>}`, so BullMQ's scripts and ours (which touch a queue's keys together) stay in
 * one slot while six providers, and the shards of a hot one, spread over the masters (the tags are chosen for that:
 * infra/layout-store.ts). A shard is chosen by a hash of the record id, so a repeat of the same payment always reaches
 * the same shard; the shard count of a deployment is therefore fixed (start-up refuses a change, layout-store.ts).
 */
export class Layout {
  private readonly byProvider: ReadonlyMap<Provider, readonly QueueRef[]>;

  constructor(private readonly options: LayoutOptions) {
    this.byProvider = new Map(PROVIDERS.map((provider) => [provider, this.build(provider, options.shards?.[provider] ?? 1)]));
  }

  get queuePrefix(): string {
    return this.options.queuePrefix;
  }

  /** Every queue of a provider: one, or its shards. */
  queues(provider: Provider): readonly QueueRef[] {
    return this.byProvider.get(provider)!;
  }

  all(providers: readonly Provider[] = PROVIDERS): QueueRef[] {
    return providers.flatMap((provider) => [...this.queues(provider)]);
  }

  /** The queue a record lives in: its provider's, and the shard its id hashes to. */
  queueOfRecord(recordId: string): QueueRef | undefined {
    const provider = providerOfRecordId(recordId);
    if (!isProvider(provider)) return undefined;
    const refs = this.queues(provider);
    return refs.length === 1 ? refs[0] : refs[shardOf(recordId, refs.length)];
  }

  /** BullMQ's job hash of a record: what the intake scripts read to tell a repeat from new work. */
  jobKey(ref: QueueRef, recordId: string): string {
    return `${ref.prefix}:${ref.name}:${recordId}`;
  }

  /** A key of ours in the queue's slot: `<queue prefix>:<parts…>`. */
  key(ref: QueueRef, ...parts: string[]): string {
    return [ref.prefix, ...parts].join(':');
  }

  /**
   * The BullMQ prefix of a queue that is not a provider's (the result callbacks): on a cluster its own slot too, since
   * BullMQ's scripts touch all of a queue's keys together.
   */
  auxiliaryPrefix(name: string): string {
    return this.prefixOf(name);
  }

  /** Every queue's name, providers' (in the registry's order, shards together) first, then `auxiliary` ones. */
  names(auxiliary: readonly string[] = []): string[] {
    return [...this.all().map((ref) => ref.name), ...auxiliary];
  }

  get shards(): Readonly<Partial<Record<Provider, number>>> {
    return Object.fromEntries(PROVIDERS.map((p) => [p, this.queues(p).length]));
  }

  /** Read from (or made in) Redis by infra/layout-store.ts, rather than derived from the configuration alone. */
  get stored(): boolean {
    return this.options.tags !== undefined;
  }

  private prefixOf(name: string): string {
    return this.options.cluster ? `${this.options.queuePrefix}:{${this.options.tags?.[name] ?? name}}` : this.options.queuePrefix;
  }

  /** A key that belongs to no queue (readiness probe, layout record). */
  globalKey(...parts: string[]): string {
    return [this.options.queuePrefix, ...parts].join(':');
  }

  private build(provider: Provider, shards: number): QueueRef[] {
    return Array.from({ length: shards }, (_, shard) => {
      const name = shard === 0 ? provider : `${provider}-${shard}`;
      return { provider, shard, name, prefix: this.prefixOf(name) };
    });
  }
}

/** Stable over processes and versions: the first 4 bytes of sha1, as an unsigned integer, modulo the shard count. */
export function shardOf(recordId: string, shards: number): number {
  return createHash('sha1').update(recordId).digest().readUInt32BE(0) % shards;
}
