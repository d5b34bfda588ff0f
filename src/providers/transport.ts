import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';
import { clientError, retryable, type Outcome } from '../domain/outcome.js';
import { maskPersonalDataIn } from '../domain/personal-data.js';
import { Sweep } from '../infra/sweep.js';

/** What came back from one provider call, before any provider-specific reading. */
export type ProviderAnswer =
  | { kind: 'http'; status: number; headers: IncomingHttpHeaders; text: string; json: unknown; latencyMs: number }
  | { kind: 'timeout' | 'network'; code: string; message: string; latencyMs: number; requestSent: boolean };

/** Errors raised before a byte left this process: the provider provably never saw the request (issue 7). */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const NOT_JSON = Symbol('not json');
const RESPONSE_SNIPPET_CHARS = 2000;

export interface TransportOptions {
  timeoutMs: number;
  connections: number;
  headers?: Record<string, string>;
}

/**
 * One keep-alive pool per provider base URL; `timeoutMs` bounds a call from connect to last byte.
 *
 * The bound is one cancel signal per call, fired by one sweep over the calls in flight (infra/sweep.ts) every
 * tenth of the timeout (at most 100 ms), so a call is cut off within 110 % of PROVIDER_TIMEOUT_MS.
 */
export class ProviderTransport {
  private readonly pool: Pool;
  private readonly basePath: string;
  /** The request headers, merged once: GET, and POST with a JSON body. */
  private readonly plainHeaders: Record<string, string>;
  private readonly jsonHeaders: Record<string, string>;
  private readonly sweep: Sweep;

  constructor(
    baseUrl: string,
    private readonly options: TransportOptions,
  ) {
    const url = new URL(baseUrl);
    // The connect timeout ends well inside the call's timeout, so a provider that never accepts the connection fails
    // as UND_ERR_CONNECT_TIMEOUT (provably not sent: Payme Go may retry) instead of an ambiguous whole-call timeout.
    const connectTimeout = Math.max(1, Math.min(10_000, Math.floor(options.timeoutMs / 2)));
    this.pool = new Pool(url.origin, { connections: options.connections, keepAliveTimeout: 30_000, connect: { timeout: connectTimeout } });
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.plainHeaders = { accept: 'application/json', ...options.headers };
    this.jsonHeaders = { ...this.plainHeaders, 'content-type': 'application/json' };
    this.sweep = new Sweep(Math.max(1, Math.min(100, Math.floor(options.timeoutMs / 10))));
  }

  async send(method: 'GET' | 'POST', path: string, body?: string, headers?: Record<string, string>): Promise<ProviderAnswer> {
    const started = performance.now();
    // An EventEmitter is a signal undici takes (documented beside AbortSignal) at a tenth of an AbortController's cost.
    const cancel = new EventEmitter();
    let timedOut = false;
    const call = {
      at: started + this.options.timeoutMs,
      fire: () => {
        timedOut = true;
        cancel.emit('abort');
      },
    };
    this.sweep.add(call);
    const base = body === undefined ? this.plainHeaders : this.jsonHeaders;
    try {
      const res = await this.pool.request({ method, path: this.basePath + path, body, headers: headers ? { ...base, ...headers } : base, signal: cancel });
      const text = await res.body.text();
      const json = parseJson(text);
      return { kind: 'http', status: res.statusCode, headers: res.headers, text, json: json === NOT_JSON ? undefined : json, latencyMs: performance.now() - started };
    } catch (err) {
      const latencyMs = performance.now() - started;
      if (timedOut) return { kind: 'timeout', code: 'timeout', message: `no complete answer within ${this.options.timeoutMs} ms`, latencyMs, requestSent: true };
      const code = errorCode(err);
      return { kind: 'network', code, message: err instanceof Error ? err.message : String(err), latencyMs, requestSent: !NOT_SENT_CODES.has(code) };
    } finally {
      this.sweep.delete(call);
    }
  }

  close(): Promise<void> {
    this.sweep.stop();
    return this.pool.close();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

function errorCode(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return 'network_error';
}

/** Seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const raw = headers['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** What an operator may see of a provider's answer: JSON with personal data masked, or the start of the text. */
export function responseForRecord(answer: ProviderAnswer): unknown {
  if (answer.kind !== 'http') return null;
  if (answer.json !== undefined) return maskPersonalDataIn(answer.text, answer.json);
  return answer.text.slice(0, RESPONSE_SNIPPET_CHARS);
}

/**
 * The transport half of CONTRACT §4, shared by every provider: network errors, timeouts, 5xx and 429 are retryable,
 * any other non-2xx is a configuration fault. `undefined` means "2xx: let the provider read the body".
 */
export function classifyTransport(answer: ProviderAnswer, providerName: string): Outcome | undefined {
  if (answer.kind !== 'http') return retryable(answer.code === 'timeout' ? 'timeout' : answer.code, answer.message);
  const { status } = answer;
  if (status >= 200 && status < 300) return undefined;
  const response = responseForRecord(answer);
  if (status === 429 || status >= 500) {
    const wait = status === 429 || status === 503 ? retryAfterMs(answer.headers) : undefined;
    return retryable(`http_${status}`, `${providerName} answered HTTP ${status}`, { providerResponse: response, ...(wait === undefined ? {} : { retryAfterMs: wait }) });
  }
  const hint = status === 401 || status === 403 ? ' (check the provider token or keys in the configuration)' : ' (check the base URL and configuration)';
  return clientError(`http_${status}`, `${providerName} answered HTTP ${status}${hint}`, response);
}

/** The answer's HTTP status, or `timeout`/`network`: the `code` label and the history's `http_status`. */
export function answerStatus(answer: ProviderAnswer): number | 'timeout' | 'network' {
  return answer.kind === 'http' ? answer.status : answer.kind;
}
