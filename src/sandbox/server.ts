import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SeedReceipt } from './freedompay.js';
import { SandboxCore } from './handler.js';
import { DEFAULT_MAX_CALLS, DEFAULT_MAX_RECORDS } from './limits.js';
import type { Endpoint, FreedomPayReceipt, SandboxCall } from './types.js';

export type { Endpoint, FreedomPayReceipt, SandboxCall } from './types.js';

/**
 * The provider sandbox (`fiscal-worker sandbox`): one node:http server that answers like every provider endpoint in
 * the seed documents, with fault injection chosen by the request's id. Rules: docs/SANDBOX.md.
 */

export interface SandboxOptions {
  /** 0 = a free port (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** When set, FiscalBox endpoints require `Authorization: Bearer <token>`, else HTTP 401. */
  fiscalboxToken?: string;
  /** When set, every /v5/receipts request must carry a valid X-JWS-Signature for this merchant, else HTTP 401. */
  freedompay?: { merchantId: string; secretKey: string };
  /** Freedom Pay: GET reads of a new receipt that answer "pending" before it settles (default 1). */
  pendingReads?: number;
  /** Keep at most this many calls in `calls()`, the oldest dropped first (a ring); default 10,000. `Infinity`: all. */
  maxCalls?: number;
  /**
   * Keep at most this many FiscalBox confirmations per endpoint, fault counters and Freedom Pay receipts, the oldest
   * forgotten first; default 10,000 each. A long-running sandbox (compose's demo traffic) stays flat in memory.
   */
  maxRecords?: number;
}

export interface Sandbox {
  /** Base URL for both the FiscalBox and the Freedom Pay paths, e.g. http://127.0.0.1:41234. */
  url: string;
  /** The newest `maxCalls` requests received, in order, recorded before any fault is applied. */
  calls(endpoint?: Endpoint): SandboxCall[];
  /** Every request received since the start or the last reset, also those `calls()` no longer keeps. */
  callCount(): number;
  /** Receipts created so far, in creation order (optionally for one payment_id, compared as a string). */
  receipts(paymentId?: string): FreedomPayReceipt[];
  /** Fault directives for a key that cannot carry them (e.g. a numeric Payme Go code); "" clears. */
  program(key: string, directives: string): void;
  /** A receipt that exists only at the provider (reconcile tests); registered unless `status` says otherwise. */
  seedReceipt(r: SeedReceipt): FreedomPayReceipt;
  /** Forgets calls, receipts, confirmations, counters and programs. */
  reset(): void;
  /** Closes the server and every keep-alive socket at once, hanging and slow requests included. */
  close(): Promise<void>;
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const core = new SandboxCore({
    fiscalboxToken: opts.fiscalboxToken,
    freedompay: opts.freedompay,
    pendingReads: opts.pendingReads ?? 1,
    maxCalls: opts.maxCalls ?? DEFAULT_MAX_CALLS,
    maxRecords: opts.maxRecords ?? DEFAULT_MAX_RECORDS,
  });
  const server = createServer({ keepAlive: true, noDelay: true }, core.handle);
  // Outlive the clients' own keep-alive timeouts (undici: 4 s by default, the product's pool 30 s), so a client
  // never writes into a socket the sandbox is closing; headersTimeout must stay above keepAliveTimeout.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 61_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    calls: (endpoint) => core.calls.list(endpoint),
    callCount: () => core.calls.total,
    receipts: (paymentId) => core.receipts.all(paymentId === undefined ? undefined : String(paymentId)),
    program: (key, directives) => core.faults.program(key, directives),
    seedReceipt: (r) => core.receipts.seed(r),
    reset: () => core.reset(),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const timer of core.timers) clearTimeout(timer);
        core.timers.clear();
        server.close(() => resolve());
        // Hanging and slow requests hold their sockets open; close() must not wait for them.
        server.closeAllConnections();
      })),
  };
}
