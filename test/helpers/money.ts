import { request } from 'undici';
import { startHarness, type Harness } from './harness.js';

/**
 * What the money-path tests (issue 15, docs/RELIABILITY.md "Money at most once") share (fresh codes and keys: ids.ts):
 * a Freedom Pay sale, their harness, and Bull Board's HTTP API as the browser calls it.
 */


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

/**
 * A harness for the money paths: Bull Board credentials, Freedom Pay keys the sandbox verifies, 300 ms provider calls
 * (a `hang` directive ends ambiguous quickly), two attempts and a circuit that stays closed.
 */
export function startMoneyHarness(operator: { user: string; password: string }, freedompay: { merchantId: string; secretKey: string }): Promise<Harness> {
  return startHarness({
    env: {
      BOARD_USERNAME: operator.user,
      BOARD_PASSWORD: operator.password,
      FREEDOMPAY_MERCHANT_ID: freedompay.merchantId,
      FREEDOMPAY_SECRET_KEY: freedompay.secretKey,
      PROVIDER_TIMEOUT_MS: '300',
      RETRY_ATTEMPTS: '2',
      CIRCUIT_THRESHOLD: '50',
    },
    sandbox: { freedompay },
  });
}

export interface BoardAnswer {
  status: number;
  text: string;
  body: any;
}

/** Bull Board's own HTTP API under `/admin/queues/api`, with HTTP Basic, as its UI calls it from a browser. */
export function boardClient(baseUrl: string, user: string, password: string) {
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return async (method: 'GET' | 'PUT' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<BoardAnswer> => {
    const res = await request(`${baseUrl}/admin/queues/api${path}`, {
      method,
      headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    return { status: res.statusCode, text, body: text ? JSON.parse(text) : undefined };
  };
}
