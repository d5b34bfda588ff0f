import type { Config } from '../config/env.js';
import type { Deadline, EnqueueOutcome } from '../domain/enqueue.js';
import type { Provider } from '../domain/provider.js';
import { luaScript, runLua } from '../infra/lua.js';
import type { ProviderQueues } from '../infra/queues.js';
import { storeDeadline } from '../infra/deadline.js';
import { UnavailableError, type RedisClient } from '../infra/redis.js';
import { moneySummary, readTombstone, tombstoneKey, tombstoneSeconds } from '../records/tombstones.js';
import { addJobTo, markTombQueued, runTransaction } from './transaction.js';

/**
 * KEYS[1] job hash  KEYS[2] tombstone
 * ARGV[1] fingerprint  ARGV[2] tombstone ttl (s)  ARGV[3] now (ms)  ARGV[4] summary (amount or total)
 * → {'exists', <job data>} | {'tomb', <field>, <value>, …} | {'claimed'}
 */
const CLAIM_LUA = `
local data = redis.call('HGET', KEYS[1], 'data')
if data then return {'exists', data} end
local tomb = redis.call('HGETALL', KEYS[2])
if #tomb > 0 then
  table.insert(tomb, 1, 'tomb')
  return tomb
end
redis.call('HSET', KEYS[2], 'fp', ARGV[1], 'state', 'claimed', 'at', ARGV[3], 'sum', ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {'claimed'}
`;

const CLAIM = luaScript(CLAIM_LUA, 2);

export interface MoneyJob {
  provider: Provider;
  id: string;
  name: string;
  /** Job data; carries its `fingerprint` so a repeat can be compared with what was accepted. */
  data: { fingerprint: string };
  conflictMessage: string;
}

export interface MoneyIntakeDeps {
  config: Pick<Readonly<Config>, 'retentionSeconds' | 'idempotencySeconds'>;
  queues: ProviderQueues;
}

/**
 * One record keyed by something other than its body (an Idempotency-Key, a sale), at most once for
 * RETENTION_DAYS + IDEMPOTENCY_DAYS (issue 15). A script reads the job, then the tombstone it leaves behind, and
 * otherwise claims the key (tombstone `claimed`); a transaction then runs BullMQ's add and marks the tombstone `queued`
 * together. So a tombstone `claimed` without a job means the add never ran (a request that died between the two
 * steps: its repeat adds it), while `queued`, `succeeded` or `dead` without a job means the job ran and is gone: the
 * repeat answers what the tombstone knows and never reaches the provider. Two round trips, both under the request's
 * one deadline.
 */
export async function enqueueAtMostOnce(deps: MoneyIntakeDeps, job: MoneyJob, within: Deadline = storeDeadline()): Promise<EnqueueOutcome> {
  const { queues, config } = deps;
  const { provider, id, data } = job;
  const conflict: EnqueueOutcome = { result: 'conflict', id, provider, message: job.conflictMessage };
  const ref = queues.layout.queueOfRecord(id)!;
  const queue = queues.queue(ref);
  const tomb = tombstoneKey(queues.layout, ref, id);
  const seconds = tombstoneSeconds(config);
  try {
    const client = (await within(queue.backend.client)) as unknown as RedisClient;
    // Not defineCommand: defined on first use while other requests' commands are in flight, it crashed the process
    // (infra/lua.ts).
    const answer = await within(runLua<string[]>(client, CLAIM, [queues.layout.jobKey(ref, id), tomb], [data.fingerprint, seconds, Date.now(), moneySummary(provider, data)!]));
    const [kind, ...rest] = answer;
    if (kind === 'exists') return fingerprintOf(rest[0]) === data.fingerprint ? { result: 'duplicate', id, provider } : conflict;
    if (kind === 'tomb') {
      const known = readTombstone(rest);
      if (known?.fp !== data.fingerprint) return conflict;
      // Accepted and gone: the job ran (or is running nowhere because it ended); never add it again.
      if (known.state !== 'claimed') return { result: 'duplicate', id, provider };
    }
    const jobKey = queues.layout.jobKey(ref, id);
    await within(
      runTransaction(queues, queue, async (tx) => {
        const added = addJobTo(tx, queue, job.name, data, id);
        markTombQueued(tx, jobKey, tomb, seconds);
        await added;
      }),
    );
    return { result: kind === 'claimed' ? 'created' : 'duplicate', id, provider };
  } catch (err) {
    throw err instanceof UnavailableError ? err : new UnavailableError(err);
  }
}

function fingerprintOf(json: string | undefined): unknown {
  try {
    return (JSON.parse(json ?? '') as { fingerprint?: unknown }).fingerprint;
  } catch {
    return undefined;
  }
}
