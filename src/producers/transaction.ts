import { Job, type Queue } from 'bullmq';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import type { ProviderQueues } from '../infra/queues.js';
import type { RedisClient } from '../infra/redis.js';

/** Lua the money intake runs inside the same MULTI as BullMQ's own add, defined once per connection. */
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
} as const;

export type IntakeCommands = ChainableCommander & {
  fiscalTombQueued(jobKey: string, tombKey: string, ttlSeconds: number): ChainableCommander;
};

type Scripts = Record<string, { lua: string; numberOfKeys: number | null }>;
const scriptsOf = (client: RedisClient) => (client as unknown as { scriptsSet: Scripts }).scriptsSet;

/** BullMQ's add scripts (`addStandardJob:<version>` and its kin): the only ones of its sixty an intake MULTI runs. */
const BULLMQ_ADD = /^add\w*Job:/;

/**
 * Ours, and BullMQ's adds copied from the queues' connection once BullMQ defined them there (the names carry BullMQ's
 * version, so the copy is what BullMQ itself would run).
 */
function defineIntakeScripts(intake: RedisClient, queueConnection: RedisClient): void {
  if ('fiscalTombQueued' in intake) return;
  for (const [name, script] of Object.entries(scriptsOf(queueConnection))) {
    if (BULLMQ_ADD.test(name)) intake.defineCommand(name, { lua: script.lua, ...(script.numberOfKeys === null ? {} : { numberOfKeys: script.numberOfKeys }) });
  }
  for (const [name, script] of Object.entries(SCRIPTS)) intake.defineCommand(name, script);
}

/**
 * Builds and runs a MULTI on the intake's connection, so BullMQ's add script and ours run in one atomic round trip (all
 * keys of one queue share a hash slot on a Redis Cluster: infra/layout.ts). Returns the replies; an error in any of
 * them is thrown (the caller answers 503). The connection knows only the scripts a MULTI of the intake runs
 * (ProviderQueues.intakeConnection says why).
 *
 * A restarted Redis has forgotten every script, and ioredis cannot learn it from inside a MULTI: it sends a script's
 * body once per connection and its SHA after that, and a NOSCRIPT reply to a queued EVALSHA arrives in EXEC's replies,
 * where ioredis does not see it. So on NOSCRIPT the scripts are loaded on every master by hand and the transaction is
 * built and run once more (what failed stored nothing: every write of ours is a script or follows from one).
 */
export async function runTransaction(queues: ProviderQueues, queue: Queue, build: (multi: IntakeCommands) => Promise<void>): Promise<unknown[]> {
  // BullMQ defines its scripts on the queues' connection as the queue starts.
  await queue.backend.client;
  const client = queues.intakeConnection;
  defineIntakeScripts(client, queues.queueConnection);
  for (let attempt = 1; ; attempt++) {
    const multi = asBullTransaction(client.multi() as IntakeCommands);
    await build(multi);
    try {
      return await execReplies(multi);
    } catch (err) {
      if (attempt > 1 || !String((err as Error)?.message).includes('NOSCRIPT')) throw err;
      await loadScripts(client);
    }
  }
}

/** What BullMQ's add calls on a transaction (its own ioredis adapter adds the same: `runCommand` queues a script). */
function asBullTransaction(multi: IntakeCommands): IntakeCommands {
  const commands = multi as unknown as Record<string, (args: unknown[]) => unknown> & { runCommand?: unknown };
  commands.runCommand = (name: string, args: unknown[]) => {
    commands[name]!(args);
    return multi;
  };
  return multi;
}

/** SCRIPT LOAD of every script the client knows (BullMQ's adds and ours), on every master of a cluster. */
async function loadScripts(client: RedisClient): Promise<void> {
  const scripts = Object.values(scriptsOf(client) ?? {});
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
