import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { ADDRESS_IN_USE, freePort } from '../../src/infra/redis-server.js';

/**
 * A real Prometheus (the Debian package's binary) for tests and scripts/metrics-snapshot.ts: its own free port, its
 * own TSDB directory and a generated config, so a system Prometheus the package may have started on :9090 is never
 * involved. No vitest imports here: the snapshot script runs this file under tsx.
 */

export function commandAvailable(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface PrometheusOptions {
  /** Scrape job name → `host:port` targets (metrics_path /metrics). */
  jobs: Record<string, string[]>;
  /** Rule files, copied next to the generated config and loaded from there. */
  ruleFiles?: string[];
  scrapeInterval?: string;
  evaluationInterval?: string;
}

export interface PromSample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface QueryAnswer {
  status: 'success' | 'error';
  resultType?: string;
  result: PromSample[];
  error?: string;
}

export interface RuleState {
  name: string;
  type: 'alerting' | 'recording';
  query: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
  state?: string;
}

export interface PrometheusServer {
  url: string;
  /** The generated prometheus.yml. */
  configFile: string;
  /** Instant query at `time` (unix seconds; default: now). */
  query(expr: string, time?: number): Promise<QueryAnswer>;
  /** Range query, `step` in seconds. */
  queryRange(expr: string, start: number, end: number, step: number): Promise<QueryAnswer>;
  /** `/api/v1/rules`: every rule with its health and last evaluation. */
  rules(): Promise<RuleState[]>;
  /** Polls `expr` until it returns at least one sample, or throws after `timeoutMs`. */
  waitForData(expr: string, timeoutMs?: number): Promise<PromSample[]>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fiscal-prometheus-'));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const ruleFiles = (options.ruleFiles ?? []).map((file) => {
    copyFileSync(file, join(dir, basename(file)));
    return basename(file);
  });
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(
    configFile,
    stringify({
      global: {
        scrape_interval: options.scrapeInterval ?? '1s',
        scrape_timeout: options.scrapeInterval ?? '1s',
        evaluation_interval: options.evaluationInterval ?? '1s',
      },
      rule_files: ruleFiles,
      scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({
        job_name: job,
        metrics_path: '/metrics',
        static_configs: [{ targets }],
      })),
    }),
  );

  // Another process may take the port between the pick and prometheus's bind: then it exits (address in use), or,
  // worse, /-/ready answers from someone else's Prometheus. So it is ours only once it reports our config file; on
  // a taken port it starts again on another.
  let launched: Launched | undefined;
  for (let attempt = 1; !launched; attempt++) {
    try {
      launched = await launch(configFile, dataDir, await freePort());
    } catch (err) {
      if (attempt >= 5 || !(err instanceof PortTaken)) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const { url } = launched;
  const stop = async () => {
    await launched.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  const api = async <T>(path: string, params: Record<string, string>): Promise<T> => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    });
    return (await res.json()) as T;
  };
  const answer = (raw: { status: 'success' | 'error'; data?: { resultType: string; result: PromSample[] }; error?: string }): QueryAnswer => ({
    status: raw.status,
    ...(raw.data ? { resultType: raw.data.resultType } : {}),
    result: Array.isArray(raw.data?.result) ? raw.data.result : [],
    ...(raw.error ? { error: raw.error } : {}),
  });

  const server: PrometheusServer = {
    url,
    configFile,
    query: async (expr, time) => answer(await api('/api/v1/query', { query: expr, ...(time === undefined ? {} : { time: String(time) }) })),
    queryRange: async (expr, start, end, step) =>
      answer(await api('/api/v1/query_range', { query: expr, start: String(start), end: String(end), step: String(step) })),
    async rules() {
      const res = await fetch(`${url}/api/v1/rules`);
      const body = (await res.json()) as { data: { groups: { rules: RuleState[] }[] } };
      return body.data.groups.flatMap((group) => group.rules);
    },
    async waitForData(expr, timeoutMs = 15_000) {
      let last: QueryAnswer | undefined;
      await until(
        async () => {
          last = await server.query(expr);
          return last.result.length > 0;
        },
        timeoutMs,
        () => `no data for ${expr} within ${timeoutMs} ms; last answer: ${JSON.stringify(last)}`,
      );
      return last?.result ?? [];
    },
    stop,
  };
  return server;
}

class PortTaken extends Error {}

interface Launched {
  url: string;
  stop(): Promise<void>;
}

async function launch(configFile: string, dataDir: string, port: number): Promise<Launched> {
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killed);
    }
  };
  const ours = async () => {
    const res = await fetch(`${url}/api/v1/status/flags`).catch(() => undefined);
    const flags = res?.ok ? ((await res.json()) as { data?: Record<string, string> }).data : undefined;
    return flags?.['config.file'] === configFile;
  };
  try {
    await until(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          if (ADDRESS_IN_USE.test(stderr)) throw new PortTaken(`port ${port} taken: ${stderr}`);
          throw new Error(`prometheus exited with ${child.exitCode ?? child.signalCode}: ${stderr}`);
        }
        const res = await fetch(`${url}/-/ready`).catch(() => undefined);
        if (res?.status !== 200) return false;
        if (await ours()) return true;
        throw new PortTaken(`port ${port} answers as another Prometheus`);
      },
      15_000,
      () => `prometheus did not become ready on ${url}: ${stderr}`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}

/** A bounded poll (every 100 ms): the condition, never a fixed sleep. */
export async function until(condition: () => Promise<boolean>, timeoutMs: number, message: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(message());
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `host:port` of a base URL, as a scrape target. */
export function targetOf(baseUrl: string): string {
  return new URL(baseUrl).host;
}
