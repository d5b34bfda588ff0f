import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort } from '../src/infra/redis-server.js';

/**
 * Processes a benchmark runs side by side, as a deployment runs them: the product's built CLI (`dist/main.js`), the
 * bare reference scripts (`bench/bare/*.mjs`), the provider sandbox. Each one's stdout is read and thrown away by
 * the parent as a container's log driver would read it: the product pays for its logging, as it would deployed.
 */
export interface Proc {
  child: ChildProcess;
  /** Bytes the process wrote to stdout (its logs). */
  stdoutBytes(): number;
  /** Peak resident memory so far (VmHWM, MiB). */
  peakRssMiB(): number;
  /** The stdout lines seen so far (kept only until `keepLines` is off). */
  lines: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startProc(command: string, args: string[], env: Record<string, string>, options: { keepLines?: boolean } = {}): Proc {
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let bytes = 0;
  const lines: string[] = [];
  let rest = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (!options.keepLines) return;
    rest += chunk.toString();
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  child.once('exit', (code, signal) => {
    if (code && code !== 0) process.stderr.write(`bench: ${[command, ...args].join(' ')} exited ${code ?? signal}: ${stderr}\n`);
  });
  return {
    child,
    lines,
    stdoutBytes: () => bytes,
    peakRssMiB: () => vmHwmMiB(child.pid),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
  };
}

function vmHwmMiB(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

/** Resolves with the first stdout line matching `pattern` (a process saying it is up). */
export function waitForLine(proc: Proc, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const line = seen.split('\n').find((l) => pattern.test(l));
      if (line) {
        clearTimeout(timer);
        proc.child.stdout!.off('data', onData);
        resolve(line);
      }
    };
    proc.child.stdout!.on('data', onData);
  });
}

/** Polls `url` until it answers 200. */
export async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const CLI = 'dist/main.js';

/** The image's NODE_OPTIONS (Dockerfile `ENV`), so the product is measured with the heap settings it is deployed with. */
export const DEPLOYED_NODE_OPTIONS = /NODE_OPTIONS="([^"]*)"/.exec(readFileSync('Dockerfile', 'utf8'))?.[1] ?? '';

/** The provider sandbox as its own process, so its work never shares an event loop with what is measured. */
export async function startSandboxProc(): Promise<{ proc: Proc; url: string }> {
  const proc = startProc(process.execPath, [CLI, 'sandbox', '--port', '0', '--max-calls', '20000'], {});
  const line = await waitForLine(proc, /sandbox listening/);
  return { proc, url: (JSON.parse(line) as { url: string }).url };
}

/** A built product process (`api`, `worker`, `serve`) on a free port, waiting until it answers /healthz. */
export async function startProduct(mode: 'api' | 'worker' | 'serve', env: Record<string, string>, args: string[] = []): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  const portVar = mode === 'worker' ? 'METRICS_PORT' : 'PORT';
  const proc = startProc(process.execPath, [CLI, mode, ...args], {
    NODE_OPTIONS: DEPLOYED_NODE_OPTIONS,
    ...env,
    HOST: '127.0.0.1',
    [portVar]: String(port),
    ...(mode === 'worker' ? {} : { METRICS_PORT: '0' }),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`);
  return { proc, url };
}

/** A bare reference script from bench/bare (plain ESM, the same node_modules). */
export function startBare(script: string, env: Record<string, string>): Proc {
  return startProc(process.execPath, [`bench/bare/${script}`], env, { keepLines: true });
}
