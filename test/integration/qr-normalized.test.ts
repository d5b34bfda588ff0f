import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeQrCode } from '../../src/domain/qr.js';
import { OTHER_QR, QR, startHarness, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';

/**
 * Issue 19: a qr_code is compared as parsed (src/domain/qr.ts). Two spellings of one receipt are one confirmation
 * (CONTRACT §3: "the same qr_code" → 200, not 409), the stored and forwarded qr_code is the normalized form, and a
 * really different receipt is still a conflict.
 */

/** QR spelled otherwise: spaces around it, parameters reversed, an upper-case host, spaces around a value. */
const RESPELLED = '  https://OFD.SOLIQ.UZ/check?s=514343190161&c=20230104121801&r=%202421+&t=UZ170703100597 ';
/** The same receipt once more: percent-encoded letters, another order, the default port, a fragment. */
const RESPELLED_AGAIN = 'https://ofd.soliq.uz:443/check?r=2421&t=%55Z170703100597&s=514343190161&c=20230104121801#receipt';

describe('a qr_code is compared as parsed', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h?.close());

  /** The qr_code the record keeps in Redis (its job data). */
  const storedQr = async (id: string) => (JSON.parse((await h.app.redis.hget(h.app.queues.jobKey(id), 'data'))!) as { qr_code: string }).qr_code;

  it('another spelling of the accepted receipt is a duplicate (200, no second call); another receipt is still 409', async () => {
    expect(normalizeQrCode(RESPELLED)).toBe(QR);
    const paymentId = `qr-${uid()}`;
    const created = await h.post('/v1/confirmations', { provider: 'payme', payment_id: paymentId, qr_code: RESPELLED });
    expect(created.status).toBe(202);
    const done = await h.waitForState(created.body.id, 'succeeded');

    // Stored and sent to the provider in the normalized form.
    expect(await storedQr(created.body.id)).toBe(QR);
    const calls = h.sandbox.calls('payme_confirm').filter((call) => call.key === paymentId);
    expect(calls.map((call) => call.body)).toEqual([{ payment_id: paymentId, qr_code: QR }]);

    for (const spelling of [QR, RESPELLED_AGAIN, ` ${QR}`]) {
      const repeat = await h.post('/v1/confirmations', { provider: 'payme', payment_id: paymentId, qr_code: spelling });
      expect(repeat.status, spelling).toBe(200);
      expect(repeat.body).toEqual(done);
    }
    const other = await h.post('/v1/confirmations', { provider: 'payme', payment_id: paymentId, qr_code: OTHER_QR });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'conflict', details: { id: created.body.id } });
    // Another receipt spelled oddly is still another receipt.
    const otherRespelled = OTHER_QR.replace('https://ofd.soliq.uz', ' https://OFD.soliq.uz');
    expect((await h.post('/v1/confirmations', { provider: 'payme', payment_id: paymentId, qr_code: otherRespelled })).status).toBe(409);
    expect(h.sandbox.calls('payme_confirm').filter((call) => call.key === paymentId)).toHaveLength(1);
  });

  it('in one batch, the second spelling of a receipt is the duplicate of the first', async () => {
    const transactionId = `qr-${uid()}`;
    const res = await h.post('/v1/confirmations/batch', {
      items: [
        { provider: 'anor', transaction_id: transactionId, qr_code: RESPELLED },
        { provider: 'anor', transaction_id: transactionId, qr_code: RESPELLED_AGAIN },
        { provider: 'anor', transaction_id: transactionId, qr_code: OTHER_QR },
      ],
    });
    expect(res.status).toBe(200);
    const id = `anor.${transactionId}`;
    expect(res.body.results).toEqual([
      { index: 0, id, state: 'queued', duplicate: false },
      { index: 1, id, state: expect.any(String), duplicate: true },
      expect.objectContaining({ index: 2, id, error: expect.objectContaining({ code: 'conflict' }) }),
    ]);
    await h.waitForState(id, 'succeeded');
    expect(await storedQr(id)).toBe(QR);
    expect(h.sandbox.calls('anor_confirm').filter((call) => call.key === transactionId).map((call) => call.body)).toEqual([{ transaction_id: transactionId, qr_code: QR }]);
  });

  it('a record stored before the normalization (another spelling in Redis) answers its repeat as a duplicate', async () => {
    const paymentId = `qr-legacy-${uid()}`;
    const id = `uzum.${paymentId}`;
    // As an earlier version stored it: the qr_code exactly as it was sent.
    await h.app.queues.of('uzum')[0]!.add('confirm', { payment_id: paymentId, qr_code: RESPELLED }, { jobId: id });
    expect(await storedQr(id)).toBe(RESPELLED);
    const repeat = await h.post('/v1/confirmations', { provider: 'uzum', payment_id: paymentId, qr_code: QR });
    expect(repeat.status).toBe(200);
    expect(repeat.body.id).toBe(id);
    expect((await h.post('/v1/confirmations', { provider: 'uzum', payment_id: paymentId, qr_code: OTHER_QR })).status).toBe(409);
  });
});
