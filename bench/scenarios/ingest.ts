import autocannon from 'autocannon';
import { Pool } from 'undici';
import { startBare, startProduct, waitForHttp } from '../procs.js';
import { QR, TOKEN, freshRedis, newPrefix, round, stat, type Stat } from '../support.js';
import { freePort } from '../../src/infra/redis-server.js';

export interface SingleResult {
  bare: Stat;
  product: Stat;
  bareP99: Stat;
  productP99: Stat;
}

/**
 * `POST /v1/confirmations`, 50 connections, unique ids, `seconds` per run: the product's `api` process (LOG_LEVEL=warn,
 * stdout, a bearer token) against bare fastify + zod + add(jobId), runs alternating on one fresh Redis each.
 */
export async function benchSingle(runs: number, seconds: number): Promise<SingleResult> {
  const redis = await freshRedis();
  const bareRps: number[] = [];
  const productRps: number[] = [];
  const bareP99: number[] = [];
  const productP99: number[] = [];
  try {
    const barePort = await freePort();
    const bare = startBare('api.mjs', { REDIS_URL: redis.url, PREFIX: newPrefix('bare'), PORT: String(barePort) });
    const bareUrl = `http://127.0.0.1:${barePort}`;
    await waitForHttp(`${bareUrl}/healthz`);
    const product = await startProduct('api', { REDIS_URL: redis.url, QUEUE_PREFIX: newPrefix('api'), LOG_LEVEL: 'warn', API_TOKENS: TOKEN });
    try {
      for (let run = 0; run < runs; run++) {
        for (const [who, url, headers] of [
          ['bare', bareUrl, {}],
          ['product', product.url, { authorization: `Bearer ${TOKEN}` }],
        ] as const) {
          let n = 0;
          const result = await autocannon({
            url: `${url}/v1/confirmations`,
            connections: 50,
            duration: seconds,
            requests: [
              {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...headers },
                setupRequest: (req) => ({ ...req, body: JSON.stringify({ provider: 'payme', payment_id: `${who}-${run}-${n++}`, qr_code: QR }) }),
              },
            ],
          });
          if (result.non2xx > 0) throw new Error(`${who}: ${result.non2xx} answers were not 2xx`);
          (who === 'bare' ? bareRps : productRps).push(round(result.requests.average));
          (who === 'bare' ? bareP99 : productP99).push(result.latency.p99);
          process.stderr.write(`bench single ${who} run ${run + 1}: ${round(result.requests.average)} req/s, p99 ${result.latency.p99} ms\n`);
        }
      }
    } finally {
      await bare.stop();
      await product.proc.stop();
    }
  } finally {
    await redis.stop();
  }
  return { bare: stat(bareRps), product: stat(productRps), bareP99: stat(bareP99), productP99: stat(productP99) };
}

export interface BatchResult {
  bare: Stat;
  product: Stat;
}

/**
 * Batches of 1000 sent one after the other, `batches` per run: the product's `POST /v1/confirmations/batch` against
 * raw `addBulk` from a script (no HTTP at all), the issue's own floor.
 */
export async function benchBatch(runs: number, batches: number): Promise<BatchResult> {
  const redis = await freshRedis();
  const bare: number[] = [];
  const product: number[] = [];
  try {
    const api = await startProduct('api', { REDIS_URL: redis.url, QUEUE_PREFIX: newPrefix('batch'), LOG_LEVEL: 'warn', API_TOKENS: TOKEN });
    const pool = new Pool(api.url, { connections: 1 });
    try {
      for (let run = 0; run < runs; run++) {
        const script = startBare('addbulk.mjs', { REDIS_URL: redis.url, PREFIX: newPrefix('bulk'), BATCHES: String(batches), FROM: String(run * batches * 1000) });
        await new Promise((resolve) => script.child.once('exit', resolve));
        const out = JSON.parse(script.lines.at(-1)!) as { jobs: number; seconds: number };
        bare.push(round(out.jobs / out.seconds));

        const bodies = Array.from({ length: batches }, (_, b) =>
          JSON.stringify({ items: Array.from({ length: 1000 }, (_, i) => ({ provider: 'uzum', payment_id: `b-${run}-${b}-${i}`, qr_code: QR })) }),
        );
        const started = performance.now();
        for (const body of bodies) {
          const res = await pool.request({ method: 'POST', path: '/v1/confirmations/batch', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body });
          const text = await res.body.text();
          if (res.statusCode !== 200 || text.includes('"error"')) throw new Error(`batch answered ${res.statusCode}: ${text.slice(0, 200)}`);
        }
        product.push(round((batches * 1000) / ((performance.now() - started) / 1000)));
        process.stderr.write(`bench batch run ${run + 1}: addBulk ${bare.at(-1)} jobs/s, product ${product.at(-1)} confirmations/s\n`);
      }
    } finally {
      await pool.close();
      await api.proc.stop();
    }
  } finally {
    await redis.stop();
  }
  return { bare: stat(bare), product: stat(product) };
}
