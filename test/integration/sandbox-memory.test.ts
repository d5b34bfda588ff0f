import { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { SandboxCore } from '../../src/sandbox/handler.js';
import { DEFAULT_MAX_CALLS, DEFAULT_MAX_RECORDS } from '../../src/sandbox/limits.js';
import { QR } from '../helpers/harness.js';

/**
 * Issue 19: the sandbox kept every call, confirmation and fault counter in memory, and compose's demo traffic feeds it
 * for as long as it runs. 100,000 confirmations (every id new, every other one with a fault directive, so every store
 * grows) through the sandbox's request handler, with the default limits (startSandbox's): the call log stays at its
 * cap and the heap does not grow with the traffic. The handler is driven directly (a request stream in, a response
 * that collects the status) rather than over loopback HTTP, which takes ~15 s for as many calls and adds no state.
 * Measured: the last 75,000 calls grew the heap by 0.9 MiB with the limits, by 27.6 MiB without them.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TOTAL = 100_000;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** One POST through the handler; resolves with the status it answered. */
function post(core: SandboxCore, path: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = Object.assign(Readable.from([Buffer.from(JSON.stringify(body))]), { method: 'POST', url: path, headers: { 'content-type': 'application/json' } });
    let status = 0;
    const res = {
      headersSent: false,
      destroyed: false,
      writeHead(code: number) {
        status = code;
        this.headersSent = true;
        return this;
      },
      end() {
        resolve(status);
      },
    };
    req.on('error', reject);
    core.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  });
}

/** Sends confirmations `from`..`to`-1; every other id carries a directive (`s503x1`: a 503, counted per key). */
async function send(core: SandboxCore, from: number, to: number): Promise<void> {
  const statuses = new Map<number, number>();
  for (let n = from; n < to; n += 1000) {
    const batch = Array.from({ length: Math.min(1000, to - n) }, (_, i) => n + i);
    const answered = await Promise.all(batch.map((k) => post(core, '/payment/uzum_confirm', { payment_id: k % 2 === 0 ? `mem-${k}` : `s503x1_mem-${k}`, qr_code: QR })));
    for (const status of answered) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  expect(statuses).toEqual(new Map([[200, (to - from) / 2], [503, (to - from) / 2]]));
}

describe('the sandbox stays flat in memory under 100,000 calls', () => {
  it('keeps the newest calls only, and a heap that does not grow with the traffic', async () => {
    const core = new SandboxCore({ fiscalboxToken: undefined, freedompay: undefined, pendingReads: 1, maxCalls: DEFAULT_MAX_CALLS, maxRecords: DEFAULT_MAX_RECORDS });
    // Warm-up past every cap: from here on, what grows with the traffic is what is not bounded.
    await send(core, 0, TOTAL / 4);
    const before = heapAfterGc();
    await send(core, TOTAL / 4, TOTAL);
    const after = heapAfterGc();

    const calls = core.calls.list();
    const grownMiB = (after - before) / 2 ** 20;
    process.stdout.write(`sandbox memory ${JSON.stringify({ calls: core.calls.total, kept: calls.length, heap_before_mib: +(before / 2 ** 20).toFixed(1), heap_after_mib: +(after / 2 ** 20).toFixed(1), grown_mib: +grownMiB.toFixed(1) })}\n`);
    expect(core.calls.total).toBe(TOTAL);
    expect(calls).toHaveLength(DEFAULT_MAX_CALLS);
    // The newest ones, in arrival order.
    expect(calls.map((call) => call.key).slice(-2)).toEqual([`mem-${TOTAL - 2}`, `s503x1_mem-${TOTAL - 1}`]);
    expect(calls[0]?.key).toBe(`mem-${TOTAL - DEFAULT_MAX_CALLS}`);
    expect(grownMiB).toBeLessThan(8);
  }, 60_000);
});
