import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ThrowawayRedis {
  url: string;
  port: number;
  /** The running child; a new one after `start()`. */
  readonly process: ChildProcess;
  /** Its `--dir`: the AOF survives `kill()` + `start()`. */
  dir: string;
  /** Stops the server with `signal` (SIGTERM by default) and keeps its directory. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again after `kill()`: same port, arguments and directory, so an AOF brings the data back. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

export function redisServerAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Ports handed out by bind(0) and used for outgoing connections (Linux: ip_local_port_range); IANA's elsewhere. */
function ephemeralPorts(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return { low, high };
  } catch {
    // not Linux
  }
  return { low: 49_152, high: 65_535 };
}

/** Below the ephemeral range and above the ports services usually claim by default. */
const PICK_FROM = 10_000;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function bindZero(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A loopback port free now, for a server started a moment later (redis-server, prometheus) or one that must not be
 * there (a refused connection). Picked at random below the ephemeral range: a port from bind(0) is the one the next
 * bind(0) of any other process on the machine may get too (a test suite running beside this one), and a port freed by
 * a restart would be handed out again. A random pick still collides now and then with another process picking the
 * same way; the spawners retry on "address already in use" (startRedisServer, test/helpers/prometheus.ts).
 */
export async function freePort(): Promise<number> {
  const { low } = ephemeralPorts();
  if (low - PICK_FROM >= 1000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = PICK_FROM + randomInt(low - PICK_FROM);
      if (await canBind(port)) return port;
    }
  }
  return bindZero();
}

/** redis-server's own words when its port (or cluster bus port) is taken. */
export const ADDRESS_IN_USE = /address already in use/i;
const SPAWN_ATTEMPTS = 8;

/**
 * A `redis-server` child on a free loopback port with its own directory, for `npm run dev` and tests when no Redis
 * is given. `extraArgs` lets tests turn on AOF or cluster mode (a function is called again for each attempt, so ports
 * in it are picked anew); `kill()` + `start()` restart it on the same port and directory (tests of Redis restarts).
 * Another process may take a port between the pick and the spawn: the spawn is then retried on a new port, or, for a
 * restart on the same port, after a short wait. Stopped (and its directory removed) by `stop()`.
 */
export async function startRedisServer(extraArgs: string[] | (() => Promise<string[]>) = [], port?: number): Promise<ThrowawayRedis> {
  if (!redisServerAvailable()) {
    throw new Error('redis-server is not installed: install it (e.g. apt-get install -y redis-server) or set REDIS_URL to a running Redis');
  }
  const dir = mkdtempSync(join(tmpdir(), 'fiscal-redis-'));
  let chosen = 0;
  let args: string[] = [];
  let child: ChildProcess | undefined;
  for (let attempt = 1; !child; attempt++) {
    chosen = port ?? (await freePort());
    const extra = typeof extraArgs === 'function' ? await extraArgs() : extraArgs;
    args = ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction', ...extra];
    try {
      child = await spawnRedisServer(args);
    } catch (err) {
      if (port !== undefined || attempt >= SPAWN_ATTEMPTS || !ADDRESS_IN_USE.test(String(err))) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  let current: ChildProcess = child;
  const running = () => current.exitCode === null && current.signalCode === null;
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (!running()) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill(signal);
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${chosen}`,
    port: chosen,
    get process() {
      return current;
    },
    dir,
    kill,
    async start() {
      if (running()) return;
      // The same port (clients reconnect to it): if another process took it meanwhile, wait for it to go, briefly.
      for (let attempt = 1; ; attempt++) {
        try {
          current = await spawnRedisServer(args);
          return;
        } catch (err) {
          if (attempt >= SPAWN_ATTEMPTS || !ADDRESS_IN_USE.test(String(err))) throw err;
          await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
        }
      }
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function spawnRedisServer(args: string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}
