import { describe, expect, it } from 'vitest';
import { FaultBook, directivesInKey, parseDirectiveList, planCall } from '../../src/sandbox/faults.js';

describe('sandbox fault directives', () => {
  it('takes every leading directive token of an id and stops at the first that is not one', () => {
    expect(directivesInKey('s503x2_abc123')).toEqual([{ kind: 'status', status: 503, times: 2 }]);
    expect(directivesInKey('s429x1_ra2_p_reset')).toEqual([
      { kind: 'status', status: 429, times: 1 },
      { kind: 'retry_after', seconds: 2 },
    ]);
    expect(directivesInKey('slow250_garbagex1_pending3_pay-1')).toEqual([
      { kind: 'slow', ms: 250, times: undefined },
      { kind: 'garbage', times: 1 },
      { kind: 'pending', reads: 3 },
    ]);
  });

  it('reads FiscalBox refusal codes (e<code>) and the live answer form', () => {
    expect(directivesInKey('e7_live_e104x1_p-1')).toEqual([
      { kind: 'refuse', code: 7, times: undefined },
      { kind: 'live' },
      { kind: 'refuse', code: 104, times: 1 },
    ]);
    expect(planCall(directivesInKey('live_p-1'), 1)).toMatchObject({ answer: undefined, live: true });
    expect(planCall(directivesInKey('e104x1_live_p-1'), 1)).toMatchObject({ answer: { kind: 'refuse', code: 104 }, live: true });
    expect(planCall(directivesInKey('e104x1_live_p-1'), 2)).toMatchObject({ answer: undefined, live: true });
  });

  it('finds no directives in plain ids', () => {
    for (const id of ['696e0246c9a128176d5934d8', 'bb75f609-6d97-4b45-9ed3-80e5fcd19ef1', 'e5a447d7-ad64-4b95-931e-951b624b6534', '50502044301381396427', '764239789', '', 's50_x', 's200_x', 'order_reject', 'lively_1']) {
      expect(directivesInKey(id)).toEqual([]);
    }
  });

  it('counts x<n> from the first call and lets the first active directive of each kind win', () => {
    const directives = directivesInKey('s503x2_fail_slow10x1_id');
    expect(planCall(directives, 1)).toMatchObject({ answer: { kind: 'status', status: 503 }, delivery: { kind: 'slow', ms: 10 } });
    expect(planCall(directives, 2)).toMatchObject({ answer: { kind: 'status', status: 503 }, delivery: undefined });
    expect(planCall(directives, 3)).toMatchObject({ answer: { kind: 'fail' }, delivery: undefined });
  });

  it('chains with growing counts: a no-work answer wins over garbage/reset/hang, not over slow', () => {
    const chain = directivesInKey('s503x1_resetx2_p');
    expect([1, 2, 3].map((n) => planCall(chain, n)).map((p) => [p.answer?.kind, p.delivery?.kind])).toEqual([
      ['status', undefined],
      [undefined, 'reset'],
      [undefined, undefined],
    ]);
    expect(planCall(directivesInKey('s503_slow500_p'), 1)).toMatchObject({ answer: { status: 503 }, delivery: { kind: 'slow', ms: 500 } });
    expect(planCall(directivesInKey('fail_hang_p'), 1)).toMatchObject({ answer: { kind: 'fail' }, delivery: { kind: 'hang' } });
  });

  it('refuses an unknown token in a programmed list', () => {
    expect(parseDirectiveList('s503x1_ra5')).toHaveLength(2);
    expect(parseDirectiveList('')).toEqual([]);
    expect(() => parseDirectiveList('s503x1_oops')).toThrow(/oops/);
  });

  it('keeps counters per endpoint and key, and restarts them when a key is programmed', () => {
    const book = new FaultBook();
    expect(book.next('payme_confirm', 'rejectx1_a').answer).toEqual({ kind: 'reject', times: 1 });
    expect(book.next('payme_confirm', 'rejectx1_a').answer).toBeUndefined();
    expect(book.next('uzum_confirm', 'rejectx1_a').answer).toEqual({ kind: 'reject', times: 1 });

    expect(book.next('payme_go', '5050').answer).toBeUndefined();
    book.program('5050', 's500x1');
    expect(book.next('payme_go', '5050').answer).toEqual({ kind: 'status', status: 500, times: 1 });
    expect(book.next('payme_go', '5050').answer).toBeUndefined();
    book.program('5050', 's500x1');
    expect(book.next('payme_go', '5050').answer).toMatchObject({ status: 500 });
    book.program('5050', '');
    expect(book.next('payme_go', '5050').answer).toBeUndefined();
  });
});
