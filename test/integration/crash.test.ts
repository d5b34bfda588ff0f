import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type ThrowawayRedis } from '../../src/infra/redis-server.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { QueueReader, callsPerKey, keyOf, spawnServe, startFeeder, type ServeProcess } from '../helpers/serve-process.js';

/**
 * Issue 8, crashes: the real CLI is killed mid-traffic (SIGTERM, SIGKILL) and started again; every accepted
 * confirmation must end succeeded or dead, and only a job in flight at a SIGKILL may reach its provider twice.
 * Numbers: docs/RELIABILITY.md. Each test has its own Redis (a redis-server child) and QUEUE_PREFIX.
 */

const CONCURRENCY = 20;
const PROVIDERS = 3;
const SHUTDOWN_TIMEOUT_MS = 5000;

describe('crashes of fiscal-worker serve mid-traffic', () => {
  let redis: ThrowawayRedis;
  let sandbox: Sandbox;
  const running = new Set<ServeProcess>();

  beforeAll(async () => {
    redis = await startRedisServer();
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await Promise.all([...running].map((p) => p.stop('SIGKILL')));
    await sandbox?.close();
    await redis?.stop();
  });

  const envFor = async (prefix: string, extra: Record<string, string> = {}) => ({
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    HOST: '127.0.0.1',
    PORT: '0', // the address is read from its "fiscal-worker started" line: no port picked now and bound later
    FISCALBOX_BASE_URL: sandbox.url,
    PROVIDER_TIMEOUT_MS: '2000',
    WORKER_CONCURRENCY: String(CONCURRENCY),
    RETRY_BASE_MS: '50',
    RETRY_MAX_MS: '500',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    LOG_LEVEL: 'info',
    ...extra,
  });
  const serve = async (env: Record<string, string>) => {
    const p = await spawnServe(env);
    running.add(p);
    void p.exited.then(() => running.delete(p));
    return p;
  };
  const confirmCalls = (tag: string) =>
    callsPerKey([...sandbox.calls('payme_confirm'), ...sandbox.calls('uzum_confirm'), ...sandbox.calls('anor_confirm')].filter((c) => c.key.includes(tag)));
  const waitFor = async (what: () => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!what()) {
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms (sandbox calls: ${sandbox.calls().length})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('SIGTERM mid-traffic: exits 0 within SHUTDOWN_TIMEOUT_MS, active jobs finish, the rest wait; nothing lost or repeated', async () => {
    const tag = `term-${randomUUID().slice(0, 6)}`;
    const prefix = `crash-${tag}`;
    const reader = new QueueReader(redis.url, prefix);
    try {
      const first = await serve(await envFor(prefix));
      const feeder = startFeeder(() => first.url, { tag, directives: 'slow200', total: 900, batchSize: 100, pauseMs: 50 });
      await waitFor(() => confirmCalls(tag).size >= 120, 20_000);
      const signalledAt = Date.now();
      first.child.kill('SIGTERM');
      const exit = await first.exited;
      await feeder.done;
      const exitMs = exit.at - signalledAt;
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(exitMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 2000);
      expect(first.logs.map((l) => l.msg)).toContain('stopped');

      // Right after the exit: nothing was left active, every provider call so far belongs to a finished job, and
      // accepted jobs that had not started are still waiting.
      const atExit = await reader.counts();
      const callsAtExit = confirmCalls(tag);
      expect(atExit.active).toBe(0);
      expect(atExit.completed).toBe(callsAtExit.size);
      expect(atExit.waiting).toBeGreaterThan(0);
      // Requests that reached the closing server were answered (503 while closing) or refused: never accepted unless stored.
      const states = await reader.states(feeder.accepted);
      expect([...states.values()].filter((s) => s === 'unknown')).toEqual([]);

      const second = await serve(await envFor(prefix));
      const drainMs = await reader.waitUntilDrained(feeder.accepted.size, 30_000);
      const finalStates = await reader.states(feeder.accepted);
      expect(new Set(finalStates.values())).toEqual(new Set(['completed']));
      const calls = confirmCalls(tag);
      const repeated = [...feeder.accepted].filter((id) => (calls.get(keyOf(id))?.length ?? 0) !== 1);
      expect(repeated).toEqual([]);
      const stop = await second.stop('SIGTERM');
      expect(stop.code).toBe(0);
      console.info(
        `[crash] SIGTERM: accepted ${feeder.accepted.size}/${feeder.sent}, exit ${exitMs} ms, at exit completed ${atExit.completed} waiting ${atExit.waiting}, ` +
          `drained after restart in ${drainMs} ms, answers ${JSON.stringify(countStatuses(feeder.answers))}`,
      );
    } finally {
      await reader.close();
    }
  }, 60_000);

  it('SIGTERM while jobs outlive SHUTDOWN_TIMEOUT_MS: still exits 0 on time; the cut jobs run again after restart', async () => {
    const tag = `slowterm-${randomUUID().slice(0, 6)}`;
    const prefix = `crash-${tag}`;
    const reader = new QueueReader(redis.url, prefix);
    const shutdownMs = 1000;
    try {
      const env = await envFor(prefix, { SHUTDOWN_TIMEOUT_MS: String(shutdownMs), PROVIDER_TIMEOUT_MS: '4000', WORKER_CONCURRENCY: '5' });
      const first = await serve(env);
      const feeder = startFeeder(() => first.url, { tag, directives: 'slow2500', total: 30, batchSize: 30 });
      await feeder.done;
      expect(feeder.accepted.size).toBe(30);
      // 5 active jobs per provider; their calls share one FiscalBox pool of WORKER_CONCURRENCY connections.
      await waitFor(() => confirmCalls(tag).size >= 5, 10_000);
      const signalledAt = Date.now();
      const exit = await first.stop('SIGTERM');
      const exitMs = exit.at - signalledAt;
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(exitMs).toBeLessThan(shutdownMs + 2000);
      const atExit = await reader.counts();
      const calledAtExit = confirmCalls(tag).size;
      expect(atExit.active).toBe(15);
      expect(atExit.completed).toBe(0);

      const restartedAt = Date.now();
      const second = await serve(env);
      await reader.waitUntilDrained(30, 40_000);
      const recoveryMs = Date.now() - restartedAt;
      expect(new Set((await reader.states(feeder.accepted)).values())).toEqual(new Set(['completed']));
      const calls = confirmCalls(tag);
      const twice = [...feeder.accepted].filter((id) => calls.get(keyOf(id))?.length === 2);
      expect([...feeder.accepted].filter((id) => ![1, 2].includes(calls.get(keyOf(id))?.length ?? 0)).map((id) => [id, calls.get(keyOf(id))])).toEqual([]);
      // Only jobs cut at shutdown after their call went out may have been called twice.
      expect(twice.length).toBeLessThanOrEqual(calledAtExit);
      await second.stop('SIGTERM');
      console.info(
        `[crash] SIGTERM past SHUTDOWN_TIMEOUT_MS=${shutdownMs}: exit ${exitMs} ms, cut jobs ${atExit.active} (${calledAtExit} had called), ` +
          `called twice ${twice.length}, all done ${recoveryMs} ms after restart`,
      );
    } finally {
      await reader.close();
    }
  }, 70_000);

  it('SIGKILL mid-traffic: after a restart every accepted job ends, and only jobs in flight at the kill were called twice', async () => {
    const tag = `kill-${randomUUID().slice(0, 6)}`;
    const prefix = `crash-${tag}`;
    const reader = new QueueReader(redis.url, prefix);
    try {
      const env = await envFor(prefix);
      const first = await serve(env);
      const feeder = startFeeder(() => first.url, { tag, directives: 'slow200', total: 900, batchSize: 100, pauseMs: 50 });
      await waitFor(() => confirmCalls(tag).size >= 150, 20_000);
      const killedAt = Date.now();
      const exit = await first.stop('SIGKILL');
      await feeder.done;
      expect(exit.signal).toBe('SIGKILL');
      const atKill = await reader.counts();

      const restartedAt = Date.now();
      await serve(env);
      await reader.waitUntilDrained(feeder.accepted.size, 45_000);
      const recoveryMs = Date.now() - restartedAt;
      const states = await reader.states(feeder.accepted);
      expect(new Set(states.values())).toEqual(new Set(['completed']));

      const calls = confirmCalls(tag);
      const counts = [...feeder.accepted].map((id) => calls.get(keyOf(id))?.length ?? 0);
      expect(counts.every((n) => n === 1 || n === 2)).toBe(true);
      const twice = [...feeder.accepted].filter((id) => calls.get(keyOf(id))!.length === 2);
      // At most one job per worker slot was in flight, and its first call came shortly before the kill (a call that
      // started more than PROVIDER_TIMEOUT_MS earlier had ended, and its job with it).
      expect(twice.length).toBeLessThanOrEqual(CONCURRENCY * PROVIDERS);
      for (const id of twice) {
        const [firstCall, secondCall] = calls.get(keyOf(id))!;
        expect(killedAt - firstCall!).toBeLessThan(2000 + 1000);
        expect(secondCall!).toBeGreaterThan(restartedAt);
      }
      console.info(
        `[crash] SIGKILL: accepted ${feeder.accepted.size}/${feeder.sent}, active at kill ${atKill.active}, called twice ${twice.length}, ` +
          `all done ${recoveryMs} ms after restart, answers ${JSON.stringify(countStatuses(feeder.answers))}`,
      );
    } finally {
      await reader.close();
    }
  }, 80_000);
});

function countStatuses(answers: readonly { status: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1;
  return out;
}
