import { Job, type Queue } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import { bullmqScriptSource, isNoScript, loadScripts, luaScript, type LuaScript } from '../infra/lua.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { RedisClient } from '../infra/redis.js';

/**
 * KEYS[1] job hash, KEYS[2] tombstone: a money record's tombstone says `queued` only if its job really exists, so a
 * transaction whose add failed (a script unknown to a restarted node) never leaves `queued` without a job.
 */
const TOMB_QUEUED = luaScript(
  `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'state', 'queued')
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1`,
  2,
);

/** A MULTI of the intake: the scripts it ran are kept, to load them where Redis forgot them. */
export interface IntakeTransaction {
  multi: ChainableCommander;
  scripts: Set<LuaScript>;
  queueConnection: RedisClient;
}

/** BullMQ's scripts as run by SHA, keyed by their name on the queues' connection (`addStandardJob:<version>`). */
const bullmqScripts = new Map<string, LuaScript>();

function bullmqScript(queueConnection: RedisClient, name: string): LuaScript {
  let script = bullmqScripts.get(name);
  if (!script) {
    const source = bullmqScriptSource(queueConnection, name);
    bullmqScripts.set(name, (script = luaScript(source.lua, source.numberOfKeys)));
  }
  return script;
}

/**
 * Builds and runs a MULTI on the intake's connection, so BullMQ's add script and ours run in one atomic round trip (all
 * keys of one queue share a hash slot on a Redis Cluster: infra/layout.ts). Returns the replies; an error in any of
 * them is thrown (the caller answers 503). Its scripts run by SHA (EVALSHA), never through ioredis's defineCommand
 * (infra/lua.ts says why), on a connection that has none defined (ProviderQueues.intakeConnection says why).
 *
 * A restarted Redis has forgotten every script, and a NOSCRIPT reply to a queued EVALSHA arrives in EXEC's replies. So
 * on NOSCRIPT the transaction's scripts are loaded on every master and it is built and run once more (what failed
 * stored nothing: every write of ours is a script or follows from one).
 */
export async function runTransaction(queues: ProviderQueues, queue: Queue, build: (tx: IntakeTransaction) => Promise<void>): Promise<unknown[]> {
  // BullMQ defines its scripts on the queues' connection as the queue starts.
  await queue.backend.client;
  const client = queues.intakeConnection;
  for (let attempt = 1; ; attempt++) {
    const tx: IntakeTransaction = { multi: client.multi(), scripts: new Set(), queueConnection: queues.queueConnection };
    await build(tx);
    try {
      return await execReplies(tx.multi);
    } catch (err) {
      if (attempt > 1 || !isNoScript(err)) throw err;
      await loadScripts(client, [...tx.scripts]);
    }
  }
}

/**
 * Queues BullMQ's own add of `data` under the record id on the transaction (it settles once the command is queued,
 * before `exec`; await it so a job BullMQ refuses surfaces here). BullMQ's add does nothing when the job exists (it is
 * idempotent on the job id), so a repeat never makes a second job. The job carries no options: retries and retention
 * are the worker's (workers/run-policy.ts), which keeps every job hash small.
 */
export async function addJobTo(tx: IntakeTransaction, queue: Queue, name: string, data: object, recordId: string): Promise<void> {
  // What BullMQ's add calls on a transaction: `runCommand` queues one of its scripts (its own ioredis adapter does so).
  const bullTransaction = {
    runCommand: (scriptName: string, args: (string | Buffer)[]) => {
      const script = bullmqScript(tx.queueConnection, scriptName);
      tx.scripts.add(script);
      tx.multi.evalsha(script.sha, script.numberOfKeys, ...args);
      return bullTransaction;
    },
  };
  await new Job(queue, name, data, {}, recordId).addJob(bullTransaction as never);
}

/** Marks a money record's tombstone `queued` in the transaction that adds its job. */
export function markTombQueued(tx: IntakeTransaction, jobKey: string, tombKey: string, ttlSeconds: number): void {
  tx.scripts.add(TOMB_QUEUED);
  tx.multi.evalsha(TOMB_QUEUED.sha, 2, jobKey, tombKey, ttlSeconds);
}

async function execReplies(multi: ChainableCommander): Promise<unknown[]> {
  const replies = await multi.exec();
  if (!replies) throw new Error('the Redis transaction was discarded');
  return replies.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
