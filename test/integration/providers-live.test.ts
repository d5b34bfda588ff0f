import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/sandbox/server.js';
import { CONFIRMATION_SPECS, PROVIDERS, REGISTRY } from '../../src/providers/index.js';
import { LIVE_PAYME_GO_CODES } from '../fixtures/live-bodies.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';

/**
 * Every provider of the registry, on real Redis, through the sandbox over real HTTP, answering as FiscalBox answers
 * live (../shared/fiscalbox-live.md; sandbox directives `live` and `e<code>`): the live success bodies end succeeded
 * with the body kept as it came, and the live refusals end dead at once, after exactly one call.
 */

const MERCHANT = '542088';
const SECRET = 'live-test-secret';

/** The sandbox endpoint each confirmation provider's calls are recorded under. */
const ENDPOINT: Record<string, Endpoint> = Object.fromEntries(CONFIRMATION_SPECS.map((spec) => [spec.name, `${spec.name}_confirm` as Endpoint]));

describe('every provider as FiscalBox answers live', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      env: { FREEDOMPAY_MERCHANT_ID: MERCHANT, FREEDOMPAY_SECRET_KEY: SECRET, RETRY_ATTEMPTS: '3', CIRCUIT_THRESHOLD: '50' },
      sandbox: { freedompay: { merchantId: MERCHANT, secretKey: SECRET } },
    });
  });
  afterAll(() => h?.close());

  it('covers every provider of the registry', () => {
    const tested = [...CONFIRMATION_SPECS.map((spec) => spec.name), 'payme_go', 'freedompay'];
    expect(tested.sort()).toEqual([...PROVIDERS].sort());
  });

  const confirm = (provider: string, id: string) => {
    const spec = REGISTRY[provider as keyof typeof REGISTRY];
    const idField = spec.kind === 'confirmation' ? spec.idField : 'payment_id';
    return h.post('/v1/confirmations', { provider, [idField]: id, qr_code: QR });
  };
  const callsOf = (provider: string, key: string) => h.sandbox.calls(ENDPOINT[provider]).filter((c) => c.key === key);

  describe.each(CONFIRMATION_SPECS.map((spec) => spec.name))('%s', (provider) => {
    it('the live success body ends succeeded after one call, kept as it came', async () => {
      const id = `live_${uid()}`;
      const accepted = await confirm(provider, id);
      expect(accepted.status).toBe(202);
      const record = await h.waitForState(accepted.body.id, ['succeeded', 'dead']);
      expect(record.state).toBe('succeeded');
      expect(record.attempts).toBe(1);
      const [call] = callsOf(provider, id);
      expect(callsOf(provider, id)).toHaveLength(1);
      // What the sandbox sent, nulls and all, is the result (a phone number would be masked; live ones are null).
      expect(record.result).toEqual(JSON.parse(JSON.stringify(recordedAnswer(call!.body, provider, record.result))));
    });

    it('the live validation refusal (code 7) is dead at once, with the fields in details', async () => {
      const id = `e7_${uid()}`;
      const accepted = await confirm(provider, id);
      const record = await h.waitForState(accepted.body.id, ['succeeded', 'dead']);
      expect(record).toMatchObject({ state: 'dead', attempts: 1 });
      expect(record.error).toMatchObject({
        kind: 'rejected',
        code: '7',
        message: expect.stringContaining('payment_id: This field may not be blank.'),
        details: { payment_id: ['This field may not be blank.'] },
      });
      expect(callsOf(provider, id)).toHaveLength(1);
    });

    it('the live BILLING_ERROR refusal (code 104) is dead at once', async () => {
      const id = `e104_${uid()}`;
      const accepted = await confirm(provider, id);
      const record = await h.waitForState(accepted.body.id, ['succeeded', 'dead']);
      expect(record).toMatchObject({ state: 'dead', attempts: 1, error: { kind: 'rejected', code: '104' } });
      expect(callsOf(provider, id)).toHaveLength(1);
    });
  });

  describe('payme_go', () => {
    const charge = (code: string) => h.post('/v1/payments/payme?wait=10', { amount: 1000, qr_code: code }, { 'idempotency-key': `live-${uid()}` });
    const chargesOf = (code: string) => h.sandbox.calls('payme_go').filter((c) => c.key === code);

    it('a live success (status "success", nulls) is succeeded after one charge; the live customer codes are accepted', async () => {
      for (const live of LIVE_PAYME_GO_CODES) {
        const code = `${live.slice(0, 10)}${String(Date.now()).slice(-8)}${live.length > 18 ? '00' : ''}`;
        h.sandbox.program(code, 'live');
        const res = await charge(code);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ state: 'succeeded', attempts: 1, result: { status: 'success', inn: null, client_phone_number: null } });
        expect(chargesOf(code)).toHaveLength(1);
      }
    });

    it('the live BILLING_ERROR refusal is dead at once: FiscalBox said no, nothing was charged twice', async () => {
      const code = `50501010${String(Date.now()).slice(-10)}00`;
      h.sandbox.program(code, 'e104');
      const res = await charge(code);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ state: 'dead', attempts: 1, error: { kind: 'rejected', code: '104', message: expect.stringContaining('BILLING_ERROR') } });
      expect(chargesOf(code)).toHaveLength(1);
    });
  });

  describe('freedompay', () => {
    const body = (payment_id: string) => ({
      payment_id,
      operation_type: 'sell',
      positions: [{ name: 'Товар №1', price: 50, quantity: 2 }],
      settlements: [{ type: 'cashless', sum: 100 }],
    });

    it('the seed bodies (its only documented answers) end registered, the receipt kept as it came', async () => {
      const pid = `pay-${uid()}`;
      const res = await h.post('/v1/receipts/freedompay', body(pid));
      expect(res.status).toBe(202);
      const record = await h.waitForState(res.body.id, ['succeeded', 'dead']);
      expect(record.state).toBe('succeeded');
      expect(record.result).toEqual(h.sandbox.receipts(pid)[0]);
    });

    it('a receipt the fiscal module refuses (status failed) is dead, rejected with the provider error', async () => {
      const pid = `fail_${uid()}`;
      const res = await h.post('/v1/receipts/freedompay', body(pid));
      const record = await h.waitForState(res.body.id, ['succeeded', 'dead']);
      expect(record).toMatchObject({ state: 'dead', error: { kind: 'rejected', code: '5001' } });
      expect(h.sandbox.receipts(pid)).toHaveLength(1);
    });
  });
});

/**
 * The `data` the sandbox answered for this call, as the product must have stored it: the sandbox keeps no copy of its
 * answers, so it is rebuilt from the live form (docs/SANDBOX.md `live`): the request id echoed where the live body
 * echoes it, everything else null except what the provider decides.
 */
function recordedAnswer(request: unknown, provider: string, stored: unknown): unknown {
  const id = (request as Record<string, string>)[provider === 'anor' ? 'transaction_id' : 'payment_id'];
  switch (provider) {
    case 'payme':
      return { id: null, result: { receipt: { _id: id, create_time: null, pay_time: null } }, error: null };
    case 'uzum':
      return { payment_id: id, payment_status: 'SUCCESS', error_code: '0', error_message: null, client_phone_number: null };
    case 'anor':
      return { message: null, error_code: null, payment_id: null, transaction_id: id };
    case 'click':
      return { inn: null, payment_id: null, qr_code: null, status: 'successfully', error: null };
    default:
      throw new Error(`no live form known for ${provider} (stored: ${JSON.stringify(stored)})`);
  }
}
