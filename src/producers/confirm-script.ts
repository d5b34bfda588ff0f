import { Job, type Queue } from 'bullmq';
import { Command } from 'ioredis';
import { bullmqScriptSource, isNoScript, loadScripts, luaScript, type LuaScript } from '../infra/lua.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { QueueRef } from '../infra/layout.js';
import type { RedisClient } from '../infra/redis.js';

/**
 * A confirmation's intake as one script, so one EVALSHA is the whole of a single POST's Redis work, as `Queue.add` is a
 * bare producer's (issue 18). In order, atomically:
 *
 * 1. the record's existing job data, if any: then nothing is written and the caller tells a duplicate from a conflict;
 * 2. the reference index: the id at score `now`, and the index lives at least `ttl` more seconds (records/indexes.ts);
 * 3. BullMQ's own `addStandardJob`, its Lua text taken from the connection BullMQ defined it on (the name carries the
 *    installed BullMQ version) and run as a local function, with the arguments BullMQ's `Job.addJob` builds.
 *
 * So two racing requests never both answer "created", as with the transaction it replaces, and a batch is one pipeline
 * per queue slot (every key of a queue shares its hash slot: infra/layout.ts).
 *
 * KEYS[1..9] BullMQ's; KEYS[10] the job hash; KEYS[11] the reference index (the job hash again when there is none)
 * ARGV[1..3] BullMQ's; ARGV[4] `1` to index; ARGV[5] now (ms); ARGV[6] record id; ARGV[7] index ttl (s)
 * → the existing job data | 1 (added) | BullMQ's negative error code
 */
function composeLua(bullmqAdd: string): string {
  return `local existing = redis.call('HGET', KEYS[10], 'data')
if existing then return existing end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[11], ARGV[5], ARGV[6])
  local ttl = redis.call('TTL', KEYS[11])
  if ttl < tonumber(ARGV[7]) then redis.call('EXPIRE', KEYS[11], ARGV[7]) end
end
local function bullmqAdd()
${bullmqAdd}
end
local added = bullmqAdd()
if type(added) == 'number' and added < 0 then return added end
return 1`;
}

const BULLMQ_KEYS = 9;
/** BullMQ's keys, the job hash and the reference index. */
const KEY_COUNT = BULLMQ_KEYS + 2;

export interface ConfirmItem {
  id: string;
  data: object;
  /** The reference index key, when the confirmation has a reference. */
  indexKey?: string;
}

/** Added, or the data the record was accepted with (the caller compares its qr_code). */
export type ConfirmReply = { added: true } | { added: false; existingData: string };

/**
 * The arguments BullMQ's own add would send for this job: `Job.addJob` handed a client that only records its one
 * script call. BullMQ makes that call before its first await; a BullMQ that did otherwise, or chose another script
 * than `addStandardJob` (a job with options: we give none), is refused loudly rather than guessed at.
 */
function bullmqAddCall(queue: Queue, data: object, id: string): { name: string; args: unknown[] } {
  let call: { name: string; args: unknown[] } | undefined;
  const recorder = { runCommand: (name: string, args: unknown[]) => ((call = { name, args }), 1) };
  new Job(queue, 'confirm', data, {}, id).addJob(recorder as never).catch(() => undefined);
  if (!call || !call.name.startsWith('addStandardJob:') || call.args.length !== BULLMQ_KEYS + 3) {
    throw new Error(`BullMQ's add did not make the one addStandardJob call the intake relies on (${call?.name ?? 'no call'}); see producers/confirm-script.ts`);
  }
  return call;
}

/** The composed script per BullMQ add script (one, unless two BullMQ versions ran in one process). */
const composed = new Map<string, LuaScript>();

/**
 * The script for BullMQ's `bullmqName`, composed from its text on the queues' connection. Run by SHA, never through
 * ioredis's defineCommand: defined on first use while other commands are in flight, that crashes the process
 * (infra/lua.ts).
 */
function scriptFor(queueConnection: RedisClient, bullmqName: string): LuaScript {
  let script = composed.get(bullmqName);
  if (!script) {
    composed.set(bullmqName, (script = luaScript(composeLua(bullmqScriptSource(queueConnection, bullmqName).lua), KEY_COUNT)));
  }
  return script;
}

/**
 * Runs the intake of `items`, all of queue `ref`: one EVALSHA for one item, one pipeline for more. Resolves with one
 * reply per item; a Redis error rejects (the caller answers 503).
 */
export async function confirmAll(queues: ProviderQueues, ref: QueueRef, items: readonly ConfirmItem[], now: number, indexTtlSeconds: number): Promise<ConfirmReply[]> {
  const queue = queues.queue(ref);
  // BullMQ defines its scripts on the queues' connection as the queue starts.
  await queue.backend.client;
  const intake = queues.intakeConnection;
  const calls = items.map((item) => {
    const { name, args } = bullmqAddCall(queue, item.data, item.id);
    const jobKey = queues.layout.jobKey(ref, item.id);
    // EVALSHA's arguments in one array, built once: BullMQ's nine keys, ours, BullMQ's three arguments, ours.
    const argv = args as (string | number | Buffer)[];
    argv.splice(BULLMQ_KEYS, 0, jobKey, item.indexKey ?? jobKey);
    argv.push(item.indexKey ? '1' : '0', now, item.id, indexTtlSeconds);
    return { script: scriptFor(queues.queueConnection, name), argv };
  });
  const replies = calls.length === 1 ? [await evalOne(intake, calls[0]!)] : await pipelined(intake, calls);
  return replies.map((reply) => {
    if (typeof reply === 'string') return { added: false, existingData: reply };
    if (reply === 1) return { added: true };
    throw new Error(`BullMQ refused the job (code ${String(reply)})`);
  });
}

type Call = { script: LuaScript; argv: (string | number | Buffer)[] };

/**
 * One EVALSHA sent as a prebuilt command (ioredis's generated method flattens and copies its arguments, and its
 * auto-pipelining wraps a lone command in a pipeline: both showed in the single POST's profile); EVAL when Redis
 * does not know the script.
 */
async function evalOne(intake: RedisClient, { script, argv }: Call): Promise<unknown> {
  try {
    return await intake.sendCommand(new Command('evalsha', [script.sha, KEY_COUNT, ...argv], { replyEncoding: 'utf8' }));
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return intake.sendCommand(new Command('eval', [script.lua, KEY_COUNT, ...argv], { replyEncoding: 'utf8' }));
  }
}

/**
 * One pipeline of EVALSHAs. A Redis that forgot the script answers NOSCRIPT to every one of them (they share one node:
 * one queue slot) and ran none: the script is loaded and the pipeline sent once more.
 */
async function pipelined(intake: RedisClient, calls: readonly Call[]): Promise<unknown[]> {
  for (let attempt = 1; ; attempt++) {
    const pipeline = intake.pipeline();
    for (const { script, argv } of calls) pipeline.evalsha(script.sha, KEY_COUNT, ...argv);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err)?.[0];
    if (!failed) return results.map(([, value]) => value);
    if (attempt > 1 || !isNoScript(failed)) throw failed;
    await loadScripts(intake, [...new Set(calls.map((c) => c.script))]);
  }
}
