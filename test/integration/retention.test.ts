import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { dumpKeys } from '../helpers/reliability.js';

/**
 * Redis memory is bounded after traffic stops (issue 8): succeeded records leave once RETENTION_DAYS have passed even
 * when no other job completes after them (BullMQ trims by age only on a completion; the worker host also sweeps),
 * claims leave as soon as their job is added, dead letters stay (CONTRACT §5).
 */
describe('retention: what an accepted confirmation leaves in Redis', () => {
  let h: Harness;
  beforeAll(async () => {
    // 0.00002 days ≈ 2 s; the sweep then runs every second.
    h = await startHarness({ env: { RETENTION_DAYS: '0.00002' } });
  });
  afterAll(() => h?.close());

  it('completed jobs go after RETENTION_DAYS without further traffic, claims at once, dead letters never', async () => {
    const run = randomUUID().slice(0, 8);
    const items = [
      ...Array.from({ length: 30 }, (_, i) => ({ provider: 'payme', payment_id: `keep-${run}-${i}`, qr_code: QR, reference: `order-${run}` })),
      { provider: 'uzum', payment_id: `reject_${run}`, qr_code: QR },
    ];
    const res = await h.post('/v1/confirmations/batch', { items });
    const ids = res.body.results.map((r: { id: string }) => r.id) as string[];
    await Promise.all(ids.slice(0, 30).map((id) => h.waitForState(id, 'succeeded')));
    await h.waitForState(ids[30]!, 'dead');
    const keysOf = async () => [...(await dumpKeys(h.app.redis, h.prefix)).keys()];
    expect((await keysOf()).filter((k) => k.includes(':claim:'))).toEqual([]);
    const finishedAt = Date.now();

    const deadline = finishedAt + 8000;
    let completed = Infinity;
    while (Date.now() < deadline) {
      completed = await h.app.queues.get('payme').getCompletedCount();
      if (completed === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(completed).toBe(0);
    expect(Date.now() - finishedAt).toBeGreaterThanOrEqual(1500); // not before the retention
    const left = await keysOf();
    expect(left.filter((k) => ids.slice(0, 30).some((id) => k.endsWith(`:${id}`)))).toEqual([]);
    // The dead letter stays; a repeat after the retention is a new confirmation.
    expect((await h.app.records.get(ids[30]!))?.state).toBe('dead');
    const again = await h.post('/v1/confirmations', items[0]);
    expect(again.status).toBe(202);
  });
});
