import { createHash } from 'node:crypto';
import type { Cluster } from 'ioredis';
import type { RedisClient } from './redis.js';

/** A Lua script with its SHA1, for EVALSHA. */
export interface LuaScript {
  lua: string;
  sha: string;
  numberOfKeys: number;
}

export function luaScript(lua: string, numberOfKeys: number): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex'), numberOfKeys };
}

/**
 * Runs a script by EVALSHA, sending its body (EVAL) only when Redis does not know it yet. For scripts a module first
 * needs while requests are in flight: ioredis's `defineCommand` on a connection with auto-pipelining, called while the
 * current tick's pipeline is open, rejects the call (`pipeline[functionName] is not a function`) and then throws an
 * uncaught `results[i] is not iterable` from that pipeline, which ends the process (seen under the full test suite on
 * the first Payme Go charge of an api process). EVALSHA and EVAL are plain commands, safe in any pipeline.
 */
export async function runLua<T = unknown>(redis: RedisClient, script: LuaScript, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<T> {
  if (keys.length !== script.numberOfKeys) throw new Error(`script takes ${script.numberOfKeys} keys, got ${keys.length}`);
  try {
    return (await redis.evalsha(script.sha, keys.length, ...keys, ...args)) as T;
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return (await redis.eval(script.lua, keys.length, ...keys, ...args)) as T;
  }
}

/**
 * SCRIPT LOAD of `scripts` on every master (a cluster node knows only the scripts loaded on it): for a pipeline or a
 * MULTI whose EVALSHA met a Redis that forgot its scripts (restarted, or failed over), before it is sent again.
 */
export async function loadScripts(redis: RedisClient, scripts: readonly LuaScript[]): Promise<void> {
  const nodes: RedisClient[] = redis.isCluster ? (redis as Cluster).nodes('master') : [redis];
  await Promise.all(nodes.flatMap((node) => scripts.map((script) => node.script('LOAD', script.lua))));
}

export const isNoScript = (err: unknown): boolean => String((err as Error | undefined)?.message).includes('NOSCRIPT');

/** The text of BullMQ's script `name` (`addStandardJob:<version>`, …) as BullMQ defined it on its queues' connection. */
export function bullmqScriptSource(queueConnection: RedisClient, name: string): { lua: string; numberOfKeys: number } {
  const source = (queueConnection as unknown as { scriptsSet: Record<string, { lua: string; numberOfKeys: number }> }).scriptsSet[name];
  if (!source) throw new Error(`BullMQ's ${name} is not defined on the queues' connection`);
  return source;
}
