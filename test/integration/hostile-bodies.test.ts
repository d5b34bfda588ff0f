import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/domain/json-depth.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';

/**
 * CONTRACT §3: JSON nested deeper than 32 levels → 400 `invalid_json`, at the edge, before any validation, on every
 * route. Issue 19: a Freedom Pay body nested 100,000 deep inside `additional_user_props` answered 500 (a recursive
 * fingerprint overflowed the stack).
 */


/** `levels` nested arrays around `leaf`: `levels` levels of nesting. */
const nested = (levels: number, leaf = '1') => `${'['.repeat(levels)}${leaf}${']'.repeat(levels)}`;

/** A valid Freedom Pay receipt body whose `additional_user_props` holds an extra field nested so that the whole body is `depth` deep. */
function receiptBody(depth: number): string {
  // body object (1) → additional_user_props (2) → `extra`: the remaining levels.
  const extra = nested(depth - 2);
  return `{"payment_id":"deep-${uid()}","operation_type":"sell","positions":[{"name":"Tea","price":100,"quantity":1}],"settlements":[{"type":"cashless","sum":100}],"additional_user_props":{"name":"n","value":"v","extra":${extra}}}`;
}

const POST_ROUTES = ['/v1/confirmations', '/v1/confirmations/batch', '/v1/payments/payme', '/v1/receipts/freedompay'];

describe('JSON nested deeper than 32 levels is refused at the edge', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { API_TOKENS: 'tok-hostile', FREEDOMPAY_MERCHANT_ID: '542088', FREEDOMPAY_SECRET_KEY: 'fp-hostile-key' } });
  });
  afterAll(() => h?.close());

  const post = (path: string, body: string) => h.post(path, body, { 'idempotency-key': `k-${uid()}` });

  it('400 invalid_json naming the limit on every POST route, at 33 levels and at 100,000', async () => {
    for (const path of POST_ROUTES) {
      for (const levels of [MAX_JSON_DEPTH + 1, 100_000]) {
        const res = await post(path, `{"items":${nested(levels - 1)}}`);
        expect(res.status, `${path} ${levels}`).toBe(400);
        expect(res.body.error.code, `${path} ${levels}`).toBe('invalid_json');
        expect(res.body.error.message).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
      }
    }
  });

  it('the 100,000-deep Freedom Pay body answers 400, not 500, and the server keeps serving', async () => {
    const body = receiptBody(100_000);
    expect(body.length).toBeLessThan(1024 * 1024); // under the 1 MiB limit: the depth, not the size, is refused
    const res = await post('/v1/receipts/freedompay', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_json');
    expect((await h.get('/healthz')).status).toBe(200);
  });

  it('32 levels still pass the parser and reach validation; 33 do not', async () => {
    // The schema answers 32 levels: it caps what it passes through (a scalar in additional_user_props, issue 19).
    const validated = await post('/v1/receipts/freedompay', receiptBody(MAX_JSON_DEPTH));
    expect(validated.status).toBe(400);
    expect(validated.body.error.code).toBe('invalid_body');
    expect(validated.body.error.message).toMatch(/additional_user_props\.extra/);
    const refused = await post('/v1/receipts/freedompay', receiptBody(MAX_JSON_DEPTH + 1));
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('invalid_json');
    // 32 levels (body → items → item → `extra`) on a route whose schema has no room for them: the schema answers.
    const item = { provider: 'payme', payment_id: `d-${uid()}`, qr_code: QR };
    const deepItem = `{"provider":"payme","payment_id":"d-${uid()}","qr_code":"${QR}","extra":${nested(MAX_JSON_DEPTH - 3)}}`;
    const batch = await post('/v1/confirmations/batch', `{"items":[${JSON.stringify(item)},${deepItem}]}`);
    expect(batch.status).toBe(200);
    expect(batch.body.results[0].state).toBe('queued');
    expect(batch.body.results[1].error.message).toMatch(/extra/);
  });

  it('brackets inside strings do not count, and malformed JSON is still invalid_json', async () => {
    const res = await post('/v1/confirmations', JSON.stringify({ provider: 'payme', payment_id: `s-${uid()}${'['.repeat(200)}`, qr_code: QR }));
    expect(res.body.error?.code).not.toBe('invalid_json');
    const broken = await post('/v1/confirmations', '{"provider": [');
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('invalid_json');
  });
});
