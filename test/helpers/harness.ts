import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { inject } from 'vitest';
import { buildApp, type App, type AppMode, type AppOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import type { Provider } from '../../src/domain/provider.js';
import type { RecordState } from '../../src/domain/record.js';
import { createLogger } from '../../src/observability/logger.js';
import type { RecordView } from '../../src/records/record-store.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/server.js';

export const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';
export const OTHER_QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2422&c=20230104121802&s=514343190162';

/** Collects the JSON log lines a process writes, so tests can assert on them (and on what they must not contain). */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line) this.lines.push(line);
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  /** The operators' audit lines (`audit` set), or only those of one kind, in the order they were written. */
  audits(kind?: string): Record<string, any>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => (kind === undefined ? l.audit : l.audit === kind));
  }
}

export interface HarnessOptions {
  env?: Record<string, string>;
  mode?: AppMode;
  sandbox?: SandboxOptions | false;
  providers?: Provider[];
  callbackTransport?: AppOptions['callbackTransport'];
  callbackGraceMs?: number;
  onLateConfigError?: AppOptions['onLateConfigError'];
}

export interface Harness {
  app: App;
  url: string;
  sandbox: Sandbox;
  logs: LogCapture;
  prefix: string;
  env: Record<string, string>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  waitForState(id: string, state: RecordState | RecordState[], timeoutMs?: number): Promise<RecordView>;
  close(): Promise<void>;
}

export function testEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: inject('redisUrl'),
    QUEUE_PREFIX: `test-${randomUUID().slice(0, 8)}`,
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    RETRY_BASE_MS: '20',
    RETRY_MAX_MS: '200',
    PROVIDER_TIMEOUT_MS: '1000',
    WORKER_CONCURRENCY: '20',
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...extra,
  };
}

/** A real product (serve by default) on a unique QUEUE_PREFIX against a real sandbox over loopback HTTP. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const sandbox = options.sandbox === false ? undefined : await startSandbox(options.sandbox ?? {});
  const env = testEnv({
    ...(sandbox ? { FISCALBOX_BASE_URL: sandbox.url, FREEDOMPAY_BASE_URL: sandbox.url } : {}),
    ...options.env,
  });
  const logs = new LogCapture();
  const config = loadConfig(env);
  const app = await buildApp({
    config,
    logger: createLogger(config.logLevel, logs),
    mode: options.mode ?? 'serve',
    ...(options.providers ? { providers: options.providers } : {}),
    ...(options.callbackTransport ? { callbackTransport: options.callbackTransport } : {}),
    ...(options.callbackGraceMs !== undefined ? { callbackGraceMs: options.callbackGraceMs } : {}),
    ...(options.onLateConfigError ? { onLateConfigError: options.onLateConfigError } : {}),
  });
  const url = await app.start();
  const token = config.apiTokens[0];
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await request(url + path, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (e.g. /metrics)
    }
    return { status: res.statusCode, body: parsed as any, headers: res.headers as Record<string, unknown> };
  };
  return {
    app,
    url,
    sandbox: sandbox!,
    logs,
    prefix: env.QUEUE_PREFIX!,
    env,
    post: (path, body, headers) => call('POST', path, body, headers),
    get: (path, headers) => call('GET', path, undefined, headers),
    async waitForState(id, state, timeoutMs = 15_000) {
      const wanted = Array.isArray(state) ? state : [state];
      const deadline = Date.now() + timeoutMs;
      let last: RecordView | undefined;
      while (Date.now() < deadline) {
        last = await app.records.get(id);
        if (last && wanted.includes(last.state)) return last;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`record ${id} did not reach ${wanted.join('|')} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    },
    async close() {
      await app.close();
      await sandbox?.close();
    },
  };
}
