import { randomInt, randomUUID } from 'node:crypto';
import { request } from 'undici';

/**
 * What the money-path tests (issue 15, docs/RELIABILITY.md "Money at most once") share: fresh Payme codes and
 * Idempotency-Keys, a Freedom Pay sale, Bull Board's HTTP API as the browser calls it, and waiting on a condition.
 */

/** A customer's Payme code: digits only, so sandbox faults come from program(code, …) (docs/SANDBOX.md). */
export const newCode = (): string => `5050${String(randomInt(1e9)).padStart(9, '0')}${String(randomInt(1e7)).padStart(7, '0')}`;
export const newKey = (): string => `order-${randomUUID()}`;
export const uid = (): string => randomUUID().slice(0, 8);

/** Seed 004's create request without merchant_id: positions 2 × 50 + 100 = settlements 200. */
export function sale(payment_id: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    payment_id,
    operation_type: 'sell',
    positions: [
      { name: 'Tea', price: 50, quantity: 2 },
      { name: 'Cup', price: 100, quantity: 1 },
    ],
    settlements: [{ type: 'cashless', sum: 200 }],
    ...overrides,
  };
}

export interface BoardAnswer {
  status: number;
  body: any;
}

/** Bull Board's own HTTP API under `/admin/queues/api`, with HTTP Basic, as its UI calls it from a browser. */
export function boardClient(baseUrl: string, user: string, password: string) {
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return async (method: 'GET' | 'PUT', path: string): Promise<BoardAnswer> => {
    const res = await request(`${baseUrl}/admin/queues/api${path}`, { method, headers: { authorization } });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
  };
}

/** Polls `read` until `done` holds for its value (a condition, never a fixed sleep standing in for an event). */
export async function waitUntil<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
