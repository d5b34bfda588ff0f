import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

export async function freePort(): Promise<number> {
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
 * A `redis-server` child on a free loopback port with its own directory, for `npm run dev` and tests when no Redis
 * is given. `extraArgs` lets tests turn on AOF or cluster mode; `kill()` + `start()` restart it on the same port and
 * directory (tests of Redis restarts). Stopped (and its directory removed) by `stop()`.
 */
export async function startRedisServer(extraArgs: string[] = [], port?: number): Promise<ThrowawayRedis> {
  if (!redisServerAvailable()) {
    throw new Error('redis-server is not installed: install it (e.g. apt-get install -y redis-server) or set REDIS_URL to a running Redis');
  }
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'fiscal-redis-'));
  const args = ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction', ...extraArgs];
  let child = await spawnRedisServer(args);
  const running = () => child.exitCode === null && child.signalCode === null;
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (!running()) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${chosen}`,
    port: chosen,
    get process() {
      return child;
    },
    dir,
    kill,
    async start() {
      if (!running()) child = await spawnRedisServer(args);
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
