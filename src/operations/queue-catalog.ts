import type { Queue } from 'bullmq';
import { CALLBACK_QUEUE } from '../domain/auxiliary-queues.js';
import { providerOfRecordId } from '../domain/ids.js';
import { PROVIDERS, type Provider, type ProviderKind } from '../domain/provider.js';
import type { ProviderQueues } from '../infra/queues.js';
import { providerSpec } from '../providers/index.js';

/** What a queue's jobs are: a provider's records (by the registry's kind), or result callbacks (issue 17). */
export type QueueKind = ProviderKind | 'callback';

/** The owner name of the callbacks queue, and the first part of its job ids (`callbacks.<record id>.<state>.<run>`). */
export const CALLBACKS_OWNER = CALLBACK_QUEUE;

/** One queue an operator sees (board, dead letters, gauges): a provider's (or one shard of it), or the callbacks queue. */
export interface CatalogQueue {
  /** The BullMQ queue name (`payme`, `payme-1`, `callbacks`). */
  name: string;
  /** The provider it serves, or `callbacks`. */
  owner: Provider | typeof CALLBACKS_OWNER;
  kind: QueueKind;
  /** How people call it: `Payme`, `Result callbacks`. */
  title: string;
  queue: Queue;
}

/**
 * Every queue that holds records or dead letters, so the board, the dead-letter API/CLI and the gauges work on one
 * list: each provider's queues (its shards) from the registry, and the callbacks queue when this process has one.
 */
export class QueueCatalog {
  private readonly entries: readonly CatalogQueue[];
  private readonly byName: ReadonlyMap<string, CatalogQueue>;

  constructor(
    private readonly queues: ProviderQueues,
    callbacks?: Queue,
    providers: readonly Provider[] = PROVIDERS,
  ) {
    const entries: CatalogQueue[] = providers.flatMap((provider) => {
      const spec = providerSpec(provider);
      return queues.layout.queues(provider).map((ref) => ({ name: ref.name, owner: provider, kind: spec.kind, title: spec.title, queue: queues.queue(ref) }));
    });
    if (callbacks) entries.push({ name: callbacks.name, owner: CALLBACKS_OWNER, kind: 'callback', title: 'Result callbacks', queue: callbacks });
    this.entries = entries;
    this.byName = new Map(entries.map((entry) => [entry.name, entry]));
  }

  all(): readonly CatalogQueue[] {
    return this.entries;
  }

  /** A queue by its BullMQ name (a board route's `queueName`). */
  named(name: string): CatalogQueue | undefined {
    return this.byName.get(name);
  }

  /** The queues of a provider (all its shards), or the callbacks queue; none for a name that is neither. */
  of(owner: string): CatalogQueue[] {
    return this.entries.filter((entry) => entry.owner === owner);
  }

  /** The queue a record or callback lives in, from its id alone. */
  ofJob(id: string): CatalogQueue | undefined {
    if (providerOfRecordId(id) === CALLBACKS_OWNER) return this.of(CALLBACKS_OWNER)[0];
    const found = this.queues.forRecord(id);
    return found ? this.byName.get(found.ref.name) : undefined;
  }
}
