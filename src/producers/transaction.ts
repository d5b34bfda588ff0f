import { Job, type Queue } from 'bullmq';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../infra/redis.js';

/**
 * Lua our intake runs inside the same MULTI as BullMQ's own add, defined once per connection.
 *
 * fiscalIndex — KEYS[1] a sorted set of record ids (the `reference` index), ARGV score, member, ttl (s): adds the id
 * and makes the index live at least `ttl` more seconds, never less than it already would (a dead letter's index lives
 * as long as the dead letter: records/indexes.ts).
 */
const SCRIPTS = {
  // KEYS[1] job hash, KEYS[2] tombstone: a money record's tombstone says `queued` only if its job really exists, so a
  // transaction whose add failed (a script unknown to a restarted node) never leaves `queued` without a job.
  fiscalTombQueued: {
    numberOfKeys: 2,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'state', 'queued')
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1`,
  },
  fiscalIndex: {
    numberOfKeys: 1,
    lua: `redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local ttl = redis.call('TTL', KEYS[1])
if ttl < tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return 1`,
  },
} as const;

export type IntakeCommands = ChainableCommander & {
  fiscalIndex(key: string, score: number, member: string, ttlSeconds: number): ChainableCommander;
  fiscalTombQueued(jobKey: string, tombKey: string, ttlSeconds: number): ChainableCommander;
};

export function defineIntakeScripts(redis: RedisClient): void {
  for (const [name, script] of Object.entries(SCRIPTS)) if (!(name in redis)) redis.defineCommand(name, script);
}

/**
 * Builds and runs a MULTI on the queue's own client, so BullMQ's add script and ours run in one atomic round trip (all
 * keys of one queue share a hash slot on a Redis Cluster: infra/layout.ts). Returns the replies; an error in any of
 * them is thrown (the caller answers 503).
 *
 * A restarted Redis has forgotten every script, and ioredis cannot learn it from inside a MULTI: it sends a script's
 * body once per connection and its SHA after that, and a NOSCRIPT reply to a queued EVALSHA arrives in EXEC's replies,
 * where ioredis does not see it. So on NOSCRIPT the scripts are loaded on every master by hand and the transaction is
 * built and run once more (what failed stored nothing: every write of ours is a script or follows from one).
 */
export async function runTransaction(queue: Queue, build: (multi: IntakeCommands) => Promise<void>): Promise<unknown[]> {
  const client = (await queue.backend.client) as unknown as RedisClient;
  defineIntakeScripts(client);
  for (let attempt = 1; ; attempt++) {
    const multi = client.multi() as IntakeCommands;
    await build(multi);
    try {
      return await execReplies(multi);
    } catch (err) {
      if (attempt > 1 || !String((err as Error)?.message).includes('NOSCRIPT')) throw err;
      await loadScripts(client);
    }
  }
}

/** SCRIPT LOAD of every script the client knows (BullMQ's and ours), on every master of a cluster. */
async function loadScripts(client: RedisClient): Promise<void> {
  const scripts = Object.values((client as unknown as { scriptsSet: Record<string, { lua: string }> }).scriptsSet ?? {});
  const nodes: Redis[] = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  await Promise.all(nodes.flatMap((node) => scripts.map((script) => node.script('LOAD', script.lua))));
}

/**
 * Queues BullMQ's own add of `data` under the record id on the transaction (it settles once the command is queued,
 * before `exec`; await it so a job BullMQ refuses surfaces here). BullMQ's add does nothing when the job exists (it is
 * idempotent on the job id), so a repeat never makes a second job. The job carries no options: retries and retention
 * are the worker's (workers/run-policy.ts), which keeps every job hash small.
 */
export async function addJobTo(multi: IntakeCommands, queue: Queue, name: string, data: object, recordId: string): Promise<void> {
  await new Job(queue, name, data, {}, recordId).addJob(multi as never);
}

async function execReplies(multi: IntakeCommands): Promise<unknown[]> {
  const replies = await multi.exec();
  if (!replies) throw new Error('the Redis transaction was discarded');
  return replies.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
