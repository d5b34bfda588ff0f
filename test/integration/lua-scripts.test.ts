import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { luaScript, runLua } from '../../src/infra/lua.js';
import { createRedis, type RedisClient } from '../../src/infra/redis.js';
import { startRedisServer, type ThrowawayRedis } from '../../src/infra/redis-server.js';

/**
 * infra/lua.ts: scripts a module first needs while requests are in flight, on the api connection (auto-pipelining).
 * ioredis's defineCommand there, once the current tick's pipeline was open, rejected the call and threw an uncaught
 * `results[i] is not iterable` (the first Payme Go charge of a process under the full suite). A Redis of its own: the
 * test empties its script cache.
 */
describe('runLua on an auto-pipelining connection', () => {
  let server: ThrowawayRedis;
  let redis: RedisClient;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);

  beforeAll(async () => {
    server = await startRedisServer();
    redis = createRedis(server.url, 'api');
    await redis.ping();
    process.on('uncaughtException', onUncaught);
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    redis?.disconnect();
    await server?.stop();
  });

  it('runs a script Redis does not know yet, in the same tick as other commands, without an uncaught error', async () => {
    await redis.script('FLUSH');
    await redis.set('lua-test:a', '1');
    const script = luaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1);
    // The same tick as another command: the auto-pipeline is open when the script is first run.
    const [other, first, second] = await Promise.all([redis.get('lua-test:a'), runLua(redis, script, ['lua-test:a'], [2]), runLua(redis, script, ['lua-test:a'], [3])]);
    expect(other).toBe('1');
    expect([first, second].sort()).toEqual([3, 6]);
    // Loaded by the EVAL fallback: the next run goes by its SHA.
    expect(await redis.script('EXISTS', script.sha)).toEqual([1]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(uncaught).toEqual([]);
  });

  it('refuses a call with the wrong number of keys, naming both', async () => {
    await expect(runLua(redis, luaScript('return 1', 2), ['only-one'], [])).rejects.toThrow(/takes 2 keys, got 1/);
  });
});
