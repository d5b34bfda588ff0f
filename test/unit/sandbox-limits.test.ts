import { describe, expect, it } from 'vitest';
import { CallLog } from '../../src/sandbox/call-log.js';
import { FaultBook } from '../../src/sandbox/faults.js';
import { FiscalBoxState } from '../../src/sandbox/fiscalbox.js';
import { BoundedMap } from '../../src/sandbox/limits.js';

// docs/SANDBOX.md: what traffic makes the sandbox remember is capped, the oldest going first (issue 19).

describe('sandbox limits', () => {
  it('the call log is a ring: the newest max calls, in arrival order, across many wraps', () => {
    const log = new CallLog(3);
    for (let i = 0; i < 10; i++) log.record(i % 2 ? 'uzum_confirm' : 'payme_confirm', `k${i}`, null);
    expect(log.list().map((c) => c.key)).toEqual(['k7', 'k8', 'k9']);
    expect(log.list('uzum_confirm').map((c) => c.key)).toEqual(['k7', 'k9']);
    expect(log.total).toBe(10);
    log.reset();
    expect([log.list(), log.total]).toEqual([[], 0]);
    expect(() => new CallLog(0)).toThrow(/at least 1/);
  });

  it('a bounded map forgets the least recently written key', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1).set('b', 2).set('a', 3).set('c', 4);
    expect([map.get('a'), map.get('b'), map.get('c'), map.size]).toEqual([3, undefined, 4, 2]);
  });

  it('FiscalBox confirmations and fault counters are capped per store', () => {
    const state = new FiscalBoxState(2);
    const confirm = (id: string, qr: string) => (state.execute('uzum_confirm', { payment_id: id, qr_code: qr }, false).body as { is_success?: boolean; error?: unknown });
    confirm('p1', 'q');
    confirm('p2', 'q');
    expect(confirm('p1', 'other').is_success).toBe(false); // remembered: another QR is refused
    confirm('p3', 'q');
    confirm('p4', 'q');
    expect(confirm('p1', 'other').is_success).toBe(true); // forgotten: answered as a first confirmation

    const faults = new FaultBook(1);
    expect(faults.next('uzum_confirm', 's503x1_a').answer).toMatchObject({ status: 503 });
    expect(faults.next('uzum_confirm', 's503x1_a').answer).toBeUndefined();
    faults.next('uzum_confirm', 's503x1_b');
    expect(faults.next('uzum_confirm', 's503x1_a').answer).toMatchObject({ status: 503 }); // its count was forgotten
  });
});
