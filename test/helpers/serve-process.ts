import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { request } from 'undici';

/**
 * The real CLI (`node --import tsx src/main.ts serve`) as a child process, so tests can SIGTERM or SIGKILL it mid-traffic
 * (docs/RELIABILITY.md), plus the traffic and Redis read-outs those tests share.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';

export interface LogLine {
  level: string;
  msg: string;
  time: string;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() when the process exited. */
  at: number;
}

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Every JSON log line written to stdout so far. */
  logs: LogLine[];
  stderr(): string;
  exited: Promise<Exit>;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

/** Starts `fiscal-worker <command>` with exactly `env` (plus PATH) and waits for its "fiscal-worker started" line. */
export async function spawnServe(env: Record<string, string>, command = 'serve', timeoutMs = 20_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', command], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let stderr = '';
  let pending = '';
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  const started = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "fiscal-worker started" within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          continue;
        }
        logs.push(parsed);
        if (parsed.msg === 'fiscal-worker started') {
          clearTimeout(timer);
          resolve(String(parsed.address));
        }
      }
    });
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`fiscal-worker exited (${exit.code ?? exit.signal}) before it started; stderr: ${stderr}`));
    });
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await started;
  return {
    url,
    child,
    logs,
    stderr: () => stderr,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export type ConfirmProvider = 'payme' | 'uzum' | 'anor';
export const CONFIRM_PROVIDERS: readonly ConfirmProvider[] = ['payme', 'uzum', 'anor'];
export const ENDPOINT = { payme: 'payme_confirm', uzum: 'uzum_confirm', anor: 'anor_confirm' } as const;

export function confirmation(provider: ConfirmProvider, key: string): Record<string, string> {
  return { provider, [provider === 'anor' ? 'transaction_id' : 'payment_id']: key, qr_code: QR };
}

export interface BatchAnswer {
  status: number;
  /** Record ids the API accepted (202 created or 200 duplicate): each must end succeeded or dead. */
  accepted: string[];
  body: any;
}

/** One `POST /v1/confirmations/batch`; a connection error is an answer too (status 0, nothing accepted). */
export async function postBatch(url: string, items: readonly unknown[]): Promise<BatchAnswer> {
  try {
    const res = await request(`${url}/v1/confirmations/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items }),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
    const text = await res.body.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    const accepted =
      res.statusCode === 200 && Array.isArray(body?.results)
        ? (body.results as { id?: string; error?: unknown }[]).filter((r) => r.id && !r.error).map((r) => r.id!)
        : [];
    return { status: res.statusCode, accepted, body };
  } catch (err) {
    return { status: 0, accepted: [], body: String(err) };
  }
}

/**
 * Feeds `total` confirmations in batches of `batchSize` (providers in turn, keys `<directives>_<tag>-<n>`) until done
 * or `stop()`; `accepted` grows as answers come in.
 */
export function startFeeder(
  url: () => string,
  opts: { tag: string; directives: string; total: number; batchSize: number; pauseMs?: number },
): { accepted: Set<string>; answers: BatchAnswer[]; sent: number; done: Promise<void>; stop(): void } {
  const feeder = {
    accepted: new Set<string>(),
    answers: [] as BatchAnswer[],
    sent: 0,
    stopped: false,
    done: Promise.resolve(),
    stop() {
      feeder.stopped = true;
    },
  };
  feeder.done = (async () => {
    while (!feeder.stopped && feeder.sent < opts.total) {
      const items = Array.from({ length: Math.min(opts.batchSize, opts.total - feeder.sent) }, (_, i) => {
        const n = feeder.sent + i;
        const provider = CONFIRM_PROVIDERS[n % 3]!;
        return confirmation(provider, `${opts.directives}_${opts.tag}-${n}`);
      });
      feeder.sent += items.length;
      const answer = await postBatch(url(), items);
      feeder.answers.push(answer);
      for (const id of answer.accepted) feeder.accepted.add(id);
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  })();
  return feeder;
}

/** Job counts straight from Redis (BullMQ's own view), summed over the three confirmation queues. */
export class QueueReader {
  private readonly connection: Redis;
  private readonly queues: Queue[];

  constructor(redisUrl: string, prefix: string) {
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', () => undefined);
    this.queues = CONFIRM_PROVIDERS.map((p) => new Queue(p, { connection: this.connection, prefix }));
    // Redis is killed on purpose in these tests; a Queue without an error listener prints every failed reconnection.
    for (const q of this.queues) q.on('error', () => undefined);
  }

  async counts(): Promise<Record<'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'prioritized', number>> {
    const all = await Promise.all(this.queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized')));
    const sum = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0, prioritized: 0 };
    for (const c of all) for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += c[k] ?? 0;
    return sum;
  }

  /** State of each id (`completed`, `failed`, `active`, … or `unknown`). */
  async states(ids: Iterable<string>): Promise<Map<string, string>> {
    const byQueue = new Map(this.queues.map((q) => [q.name, q]));
    const out = new Map<string, string>();
    await Promise.all(
      [...ids].map(async (id) => {
        const queue = byQueue.get(id.slice(0, id.indexOf('.')));
        out.set(id, queue ? await queue.getJobState(id) : 'unknown');
      }),
    );
    return out;
  }

  /** Waits until nothing is waiting, active or delayed and at least `finished` jobs are completed or failed. */
  async waitUntilDrained(finished: number, timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const c = await this.counts();
      if (c.waiting + c.active + c.delayed + c.prioritized === 0 && c.completed + c.failed >= finished) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`queues not drained within ${timeoutMs} ms: ${JSON.stringify(c)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.queues.map((q) => q.close()));
    this.connection.disconnect();
  }
}

/** Sandbox calls per fault key, over the three confirmation endpoints. */
export function callsPerKey(calls: readonly { key: string; at: number }[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const c of calls) {
    const list = out.get(c.key) ?? [];
    list.push(c.at);
    out.set(c.key, list);
  }
  return out;
}

/** The fault key (payment or transaction id) of a record id `provider.key` (plain ids only). */
export const keyOf = (id: string): string => id.slice(id.indexOf('.') + 1);
