import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { freePort, startRedisServer } from '../../src/infra/redis-server.js';

/**
 * Issue 19, a suite that passes on a busy machine: the throwaway servers tests start must survive other processes on
 * the same machine starting theirs. A port picked now and bound a moment later must not be one bind(0) hands to the
 * next process, and a port taken in between must not fail the run.
 */

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('throwaway servers on a shared machine', () => {
  it('freePort picks below the ephemeral range, so no bind(0) of another process lands on it', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeLessThan(low!);
      expect(port).toBeGreaterThanOrEqual(10_000);
    }
    expect(new Set(ports).size).toBeGreaterThan(15); // random picks, not one port handed to every caller
  });

  it('a Redis restarted on its port waits while another process holds it, then comes back on the same port', async () => {
    const redis = await startRedisServer();
    try {
      await redis.kill();
      const squatter = await listen(redis.port); // someone else's server took the port while ours was down
      const restarting = redis.start();
      setTimeout(() => void close(squatter), 400).unref();
      await restarting;
      const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await client.connect();
        expect(await client.ping()).toBe('PONG');
      } finally {
        client.disconnect();
      }
    } finally {
      await redis.stop();
    }
  }, 20_000);

  it('a port asked for explicitly and taken is an error that says so', async () => {
    const port = await freePort();
    const squatter = await listen(port);
    try {
      await expect(startRedisServer([], port)).rejects.toThrow(/address already in use/i);
    } finally {
      await close(squatter);
    }
  });
});
