import type { Dispatcher } from 'undici';
import { retryAfterMs } from '../providers/transport.js';
import { ADDRESS_REFUSED } from './safe-dispatcher.js';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signCallback } from './signature.js';

/** What one callback POST came to. The receiver's body is never kept: it is drained up to a cap and dropped. */
export type SendResult =
  | { kind: 'http'; status: number; retryAfterMs: number | undefined; latencyMs: number }
  | { kind: 'refused' | 'timeout' | 'network'; code: string; message: string; latencyMs: number };

/** Drained so a keep-alive socket can be reused; anything longer is cut off with its connection. */
const RESPONSE_DRAIN_LIMIT_BYTES = 64 * 1024;

export interface CallbackRequest {
  url: URL;
  eventId: string;
  body: string;
  secret: string;
  timeoutMs: number;
  /** Unix ms; the signature's `t` is taken at each attempt, so a retry is as fresh as the first try. */
  now: number;
}

export async function sendCallback(dispatcher: Dispatcher, request: CallbackRequest): Promise<SendResult> {
  const started = performance.now();
  const signal = AbortSignal.timeout(request.timeoutMs);
  const timestamp = Math.floor(request.now / 1000);
  try {
    const res = await dispatcher.request({
      origin: request.url.origin,
      path: `${request.url.pathname}${request.url.search}`,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'fiscal-worker-callbacks',
        [EVENT_ID_HEADER]: request.eventId,
        [SIGNATURE_HEADER]: signCallback(request.body, request.secret, timestamp),
      },
      body: request.body,
      signal,
    });
    await res.body.dump({ limit: RESPONSE_DRAIN_LIMIT_BYTES, signal }).catch(() => undefined);
    return { kind: 'http', status: res.statusCode, retryAfterMs: retryAfterMs(res.headers), latencyMs: performance.now() - started };
  } catch (err) {
    const latencyMs = performance.now() - started;
    const chain = causeChain(err);
    const refused = chain.find((e) => e.code === ADDRESS_REFUSED);
    if (refused) return { kind: 'refused', code: 'address_refused', message: String(refused.message), latencyMs };
    if (signal.aborted) return { kind: 'timeout', code: 'timeout', message: `no complete answer within ${request.timeoutMs} ms`, latencyMs };
    const code = chain.find((e) => typeof e.code === 'string')?.code;
    return { kind: 'network', code: typeof code === 'string' ? code : 'network_error', message: err instanceof Error ? err.message : String(err), latencyMs };
  }
}

/** The error and its causes (undici wraps socket errors), outermost first. */
function causeChain(err: unknown): { code?: unknown; message?: unknown }[] {
  const chain: { code?: unknown; message?: unknown }[] = [];
  for (let current = err, depth = 0; current && typeof current === 'object' && depth < 4; depth++) {
    chain.push(current as { code?: unknown; message?: unknown });
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}
