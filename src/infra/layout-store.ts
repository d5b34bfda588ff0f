import type { Cluster } from 'ioredis';
import { ConfigError } from '../config/env.js';
import { PROVIDERS, type Provider } from '../domain/provider.js';
import { masterRanges, tagOnMaster } from './cluster-slots.js';
import { Layout, type LayoutOptions } from './layout.js';
import type { RedisClient } from './redis.js';

/** What a deployment's layout is, kept in Redis so every process (api, workers, CLIs) uses the same one. */
interface LayoutRecord {
  v: 1;
  shards: Partial<Record<Provider, number>>;
  tags: Record<string, string>;
}

/**
 * The deployment's layout, chosen once and kept under `<QUEUE_PREFIX>:layout` (issue 18):
 * - On a Redis Cluster, each queue's hash tag is picked from the cluster's slot map so that the queues go round the
 *   masters (payme, uzum, anor on three different masters of three; a hot provider's shards likewise): a name's own
 *   slot is left to chance (payme, uzum and anor all hash to the same third of the slots), a tag `name.<n>` is not.
 *   The tags never change afterwards, whatever happens to the slot map: keys move with their slots.
 * - A record's shard is a hash of its id modulo QUEUE_SHARDS, so a changed QUEUE_SHARDS would look for records in the
 *   wrong queue and take repeats for new payments: a process whose QUEUE_SHARDS differs from the deployment's refuses
 *   to start (exit 78), until the queues are drained and the record deleted.
 */
export async function openLayout(redis: RedisClient, options: Omit<LayoutOptions, 'tags'>, auxiliary: readonly string[]): Promise<Layout> {
  const plain = new Layout(options);
  const key = plain.globalKey('layout');
  let stored = parse(await redis.get(key));
  if (!stored) {
    await refuseShardingAQueueInUse(redis, plain);
    const fresh: LayoutRecord = { v: 1, shards: plain.shards, tags: options.cluster ? await spreadTags(redis as Cluster, plain.names(auxiliary)) : {} };
    // Processes starting together race here: the first record written is everyone's.
    if ((await redis.set(key, JSON.stringify(fresh), 'NX')) === 'OK') stored = fresh;
    else stored = parse(await redis.get(key));
  }
  if (!stored) throw new Error(`${key} holds something that is not a layout record; delete it only once the queues are empty`);
  refuseChangedShards(stored, plain, key);
  return new Layout({ ...options, tags: stored.tags });
}

/**
 * For a process that needed no stored layout (one Redis, QUEUE_SHARDS unset) but has Redis answering anyway (a CLI):
 * the deployment may still be sharded, and a CLI without its QUEUE_SHARDS would look at the first shard only (`dead
 * replay --provider` replaying a third, `enqueue` filing a repeat as new). Refused as a changed QUEUE_SHARDS is.
 */
export async function refuseOtherStoredShards(redis: RedisClient, layout: Layout): Promise<void> {
  const key = layout.globalKey('layout');
  const stored = parse(await redis.get(key));
  if (stored) refuseChangedShards(stored, layout, key);
}

function refuseChangedShards(stored: LayoutRecord, layout: Layout, key: string): void {
  const changed = PROVIDERS.filter((p) => (stored.shards[p] ?? 1) !== (layout.shards[p] ?? 1));
  if (changed.length) {
    const was = changed.map((p) => `${p}=${stored.shards[p] ?? 1}`).join(',');
    const now = changed.map((p) => `${p}=${layout.shards[p] ?? 1}`).join(',');
    throw new ConfigError([
      `QUEUE_SHARDS: this deployment's queues are sharded ${was}, not ${now}; a record is found by its shard, so drain the queues and delete ${key} before changing it`,
    ]);
  }
}

/**
 * A deployment that ran unsharded has no record (nothing needed one); sharding it now would leave its records where
 * the new shard count does not look: refused while the provider's queue has ever had a job (BullMQ's id counter).
 */
async function refuseShardingAQueueInUse(redis: RedisClient, layout: Layout): Promise<void> {
  const sharded = PROVIDERS.filter((p) => (layout.shards[p] ?? 1) > 1);
  // `<prefix>:<queue>:id`: BullMQ counts every add there, with or without a job id.
  const used = await Promise.all(sharded.map(async (p) => ((await redis.exists(layout.jobKey(layout.queues(p)[0]!, 'id'))) === 1 ? p : undefined)));
  const inUse = used.filter((p): p is Provider => p !== undefined);
  if (inUse.length) {
    throw new ConfigError([`QUEUE_SHARDS: ${inUse.join(', ')} already ran unsharded; a record is found by its shard, so drain those queues before sharding them`]);
  }
}

/** Queue k goes to master k mod M (in slot order), its tag the first `name[.n]` whose slot that master serves. */
async function spreadTags(cluster: Cluster, names: readonly string[]): Promise<Record<string, string>> {
  const masters = await masterRanges(cluster);
  if (masters.length === 0) return {};
  return Object.fromEntries(names.map((name, k) => [name, tagOnMaster(name, masters[k % masters.length]!)]));
}

function parse(text: string | null): LayoutRecord | undefined {
  if (!text) return undefined;
  try {
    const record = JSON.parse(text) as Partial<LayoutRecord>;
    if (record.v === 1 && record.shards && record.tags) return record as LayoutRecord;
  } catch {
    // not ours
  }
  return undefined;
}
