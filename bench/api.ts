import autocannon from 'autocannon';
import { QR, startStack } from './stack.js';

export interface ApiBenchResult {
  name: string;
  requests_per_s: number;
  items_per_s: number;
  p50_ms: number;
  p99_ms: number;
  non_2xx: number;
}

/** Enqueue API only (`api` mode: no workers competing for the two cores), unique payment ids per request. */
export async function benchApi(seconds: number): Promise<ApiBenchResult[]> {
  const stack = await startStack('api', { API_TOKENS: 'bench-token' });
  const headers = { 'content-type': 'application/json', authorization: 'Bearer bench-token' };
  const results: ApiBenchResult[] = [];
  try {
    let n = 0;
    const single = await autocannon({
      url: `${stack.url}/v1/confirmations`,
      connections: 50,
      duration: seconds,
      requests: [{ method: 'POST', headers, setupRequest: (req) => ({ ...req, body: JSON.stringify({ provider: 'payme', payment_id: `s-${n++}`, qr_code: QR }) }) }],
    });
    results.push(summarize('POST /v1/confirmations (1 item)', single, 1));
    const BATCH = 100;
    let b = 0;
    const batch = await autocannon({
      url: `${stack.url}/v1/confirmations/batch`,
      connections: 10,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          headers,
          setupRequest: (req) => {
            const start = b++ * BATCH;
            const items = Array.from({ length: BATCH }, (_, i) => ({ provider: 'uzum', payment_id: `b-${start + i}`, qr_code: QR }));
            return { ...req, body: JSON.stringify({ items }) };
          },
        },
      ],
    });
    results.push(summarize(`POST /v1/confirmations/batch (${BATCH} items)`, batch, BATCH));
  } finally {
    await stack.close();
  }
  return results;
}

function summarize(name: string, r: autocannon.Result, itemsPerRequest: number): ApiBenchResult {
  return {
    name,
    requests_per_s: Math.round(r.requests.average),
    items_per_s: Math.round(r.requests.average * itemsPerRequest),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    non_2xx: r.non2xx,
  };
}
