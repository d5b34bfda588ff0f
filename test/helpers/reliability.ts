import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { RedisClient } from '../../src/infra/redis.js';
import { request } from 'undici';

/**
 * Helpers of the reliability tests (docs/RELIABILITY.md): a switchable provider outage in front of the sandbox, a
 * reader of one Prometheus sample, and a full dump of the Redis keys under a prefix.
 */

export interface ProxiedCall {
  path: string;
  key: string;
  at: number;
  /** `503` while the outage was on, else the status the sandbox answered. */
  answered: number;
}

export interface OutageProxy {
  url: string;
  /** While true, requests to `failingPath` get HTTP 503 (after `delayMs`) instead of reaching the sandbox. */
  down: boolean;
  /** Every request to `failingPath`, in arrival order. */
  readonly calls: ProxiedCall[];
  /** The most requests to `failingPath` in flight at once since the last `resetInFlight()`. */
  maxInFlight: number;
  resetInFlight(): void;
  close(): Promise<void>;
}

/**
 * A provider outage we switch on and off: FiscalBox serves Payme, Uzum and Anor under one base URL, so the product is
 * pointed here and only `failingPath` is cut off; everything else is forwarded to the sandbox unchanged.
 */
export async function startOutageProxy(target: string, failingPath: string, opts: { delayMs?: number } = {}): Promise<OutageProxy> {
  let inFlight = 0;
  const proxy: OutageProxy = {
    url: '',
    down: true,
    calls: [],
    maxInFlight: 0,
    resetInFlight() {
      proxy.maxInFlight = inFlight;
    },
    close: async () => undefined,
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const path = req.url ?? '/';
    const tracked = path === failingPath;
    let call: ProxiedCall | undefined;
    if (tracked) {
      let key = '';
      try {
        const parsed = JSON.parse(body.toString()) as Record<string, unknown>;
        key = String(parsed.payment_id ?? parsed.transaction_id ?? '');
      } catch {
        // not JSON: key stays empty
      }
      call = { path, key, at: Date.now(), answered: 0 };
      proxy.calls.push(call);
    }
    if (tracked && proxy.down) {
      inFlight++;
      proxy.maxInFlight = Math.max(proxy.maxInFlight, inFlight);
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      inFlight--;
      call!.answered = 503;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 503, message: 'Service Unavailable' } }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'authorization', 'accept']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const upstream = await request(target + path, { method: req.method as 'GET' | 'POST', headers, ...(body.length ? { body } : {}) });
    const text = await upstream.body.text();
    if (call) call.answered = upstream.statusCode;
    const type = upstream.headers['content-type'];
    res.writeHead(upstream.statusCode, typeof type === 'string' ? { 'content-type': type } : {});
    res.end(text);
  };
  const server = createServer({ keepAlive: true }, (req, res) => {
    handle(req, res).catch(() => {
      res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return proxy;
}

/** The value of one sample in Prometheus text, e.g. `metricValue(text, 'fiscal_provider_circuit_open', { provider: 'uzum' })`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const labelText = open === name.length ? line.slice(open + 1, close) : '';
    const found: Record<string, string> = {};
    for (const m of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found[m[1]!] = m[2]!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) {
      const rest = line.slice(open === name.length ? close + 1 : name.length).trim();
      return Number(rest.split(/\s+/)[0]);
    }
  }
  return undefined;
}

/**
 * Every key under `prefix` with its whole content as text, whatever its type (SCAN + TYPE + the type's read), so a test
 * can look for what must never be stored in clear.
 */
export async function dumpKeys(client: RedisClient, prefix: string): Promise<Map<string, string>> {
  const redis = client as Redis; // one node: the tests' Redis
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let content: unknown;
      switch (type) {
        case 'string':
          content = await redis.get(key);
          break;
        case 'hash':
          content = await redis.hgetall(key);
          break;
        case 'list':
          content = await redis.lrange(key, 0, -1);
          break;
        case 'set':
          content = await redis.smembers(key);
          break;
        case 'zset':
          content = await redis.zrange(key, 0, -1, 'WITHSCORES');
          break;
        case 'stream':
          content = await redis.xrange(key, '-', '+');
          break;
        default:
          content = `(type ${type})`;
      }
      out.set(key, `${key} ${type} ${JSON.stringify(content)}`);
    }
  } while (cursor !== '0');
  return out;
}
