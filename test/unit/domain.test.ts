import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attemptsInRun, decodeAttempts, encodeAttempt, hadLostAnswer, lastCallFailed, readSuccess, storeSuccess, type AttemptEntry } from '../../src/domain/attempt.js';
import { recordId } from '../../src/domain/ids.js';
import { maskPersonalData, maskPhone } from '../../src/domain/personal-data.js';
import { fiscalQrCode, normalizeQrCode } from '../../src/domain/qr.js';
import { backoffDelay } from '../../src/workers/backoff.js';
import { Circuit } from '../../src/workers/circuit.js';
import { MemoryCircuitShare } from '../helpers/memory-circuit-share.js';

const entry = (over: Partial<AttemptEntry>): AttemptEntry => ({ at: '2026-01-01T00:00:00.000Z', http_status: 503, class: 'retryable', latency_ms: 1, ...over });

describe('record ids', () => {
  it('keeps plain ids readable and encodes the rest so BullMQ accepts them', () => {
    expect(recordId('payme', '696e0246c9a128176d5934d8')).toBe('payme.696e0246c9a128176d5934d8');
    const odd = recordId('uzum', 'a:b/c');
    expect(odd).toMatch(/^uzum\.~[A-Za-z0-9_-]+$/);
    expect(odd).not.toContain(':');
    expect(recordId('uzum', 'a:b/c')).toBe(odd);
    expect(recordId('uzum', 'a:b/d')).not.toBe(odd);
  });
  it('never collides a plain id with an encoded one', () => {
    expect(recordId('payme', '~abc')).not.toBe(recordId('payme', 'abc'));
  });
});

describe('qr_code', () => {
  const schema = fiscalQrCode(['ofd.soliq.uz']);
  it('accepts the seed QR URL', () => {
    expect(schema.safeParse('https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161').success).toBe(true);
  });
  it.each([
    ['http://ofd.soliq.uz/check?t=1&r=2&c=3&s=4', /https/],
    ['https://evil.example/check?t=1&r=2&c=3&s=4', /host evil.example/],
    ['https://ofd.soliq.uz/check?t=1&r=2&c=3', /missing the receipt parameter\(s\) s/],
    ['not a url', /must be a URL/],
  ])('rejects %s with a message that says why', (value, message) => {
    const r = schema.safeParse(value);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join(' ')).toMatch(message);
  });

  // The schema skips both URL parses for a URL already in normal form: that shortcut must give what the parse gives,
  // for every spelling near the normal form (ports, dots, `~`, upper case, other parameters, spaces, percent signs).
  it('answers every spelling exactly as the full normalization does (property)', () => {
    // Mostly near the normal form, so the shortcut is taken often and its edges are met.
    const near = fc.string({ unit: fc.constantFrom(...'aZ09._-~'.split('')), minLength: 1, maxLength: 6 });
    const wild = fc.string({ unit: fc.constantFrom(...'aZ09._-~%+ /:?&=#'.split('')), minLength: 0, maxLength: 6 });
    const part = fc.oneof({ weight: 6, arbitrary: near }, { weight: 1, arbitrary: wild });
    const host = fc.oneof(
      { weight: 4, arbitrary: fc.constant('ofd.soliq.uz') },
      { weight: 1, arbitrary: fc.constantFrom('OFD.soliq.uz', 'ofd.soliq.uz:443', 'ofd.soliq.uz:8443', 'ofd.soliq.uz.') },
    );
    const path = fc.oneof(
      { weight: 4, arbitrary: fc.constant('/check') },
      { weight: 1, arbitrary: fc.constantFrom('/', '', '/a/../check', '/./check', '/check/', '/ch~eck', '/CHECK', '/a/b') },
    );
    const value = fc
      .tuple(host, path, part, part, part, part, fc.constantFrom('', '&x=1', '&a= b'), fc.boolean())
      .map(([h, p, t, r, c, s, extra, reorder]) => (reorder ? `https://${h}${p}?r=${r}&t=${t}&c=${c}&s=${s}${extra}` : `https://${h}${p}?t=${t}&r=${r}&c=${c}&s=${s}${extra}`));
    fc.assert(
      fc.property(value, (qr) => {
        const parsed = schema.safeParse(qr);
        let expected: string | undefined;
        try {
          const url = new URL(qr);
          if (url.hostname.toLowerCase() === 'ofd.soliq.uz' && ['t', 'r', 'c', 's'].every((k) => url.searchParams.get(k)?.trim())) expected = normalizeQrCode(qr);
        } catch {
          expected = undefined;
        }
        expect(parsed.success ? parsed.data : undefined).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('personal data', () => {
  it('masks phone numbers like 998*****5009, deeply, without touching the input', () => {
    expect(maskPhone('998712565009')).toBe('998*****5009');
    const input = { data: { client_phone_number: '998712565009', other: 1 }, list: [{ client_phone_number: '998901234567' }] };
    const masked = maskPersonalData(input);
    expect(masked).toEqual({ data: { client_phone_number: '998*****5009', other: 1 }, list: [{ client_phone_number: '998*****4567' }] });
    expect(input.data.client_phone_number).toBe('998712565009');
  });
});

describe('attempt history', () => {
  it('round-trips through the stack-trace encoding and tolerates foreign stacks', () => {
    const e = entry({ code: 'http_503' });
    expect(decodeAttempts([encodeAttempt(e), 'Error: job stalled more than allowable limit\n    at x'])).toEqual([
      e,
      expect.objectContaining({ code: 'worker_error', message: 'Error: job stalled more than allowable limit' }),
    ]);
  });
  it('counts the attempts of the current run only: a replay starts afresh, uncounted calls are free', () => {
    const history = [entry({}), entry({}), entry({ terminal: true }), entry({}), entry({ uncounted: true })];
    expect(attemptsInRun(history)).toBe(1);
    expect(attemptsInRun([])).toBe(0);
  });
  it('tells whether the latest call of the current run failed (an open circuit backs such a job off)', () => {
    const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;
    expect(lastCallFailed([], [])).toBe(false);
    expect(lastCallFailed([entry({ at: at(1) })], [])).toBe(true);
    // A receipt's create succeeded after its earlier failure (a step in progress), then nothing failed since.
    expect(lastCallFailed([entry({ at: at(1) })], [entry({ at: at(2), class: 'success', uncounted: true })])).toBe(false);
    // A failure while the circuit was open is kept with the steps.
    expect(lastCallFailed([], [entry({ at: at(2), class: 'success', uncounted: true }), entry({ at: at(3), uncounted: true })])).toBe(true);
    // A replay starts a new run: the failures before its terminal entry are over.
    expect(lastCallFailed([entry({ at: at(1) }), entry({ at: at(2), terminal: true })], [entry({ at: at(1), uncounted: true })])).toBe(false);
    // BullMQ's own failures (a stalled job) carry no time and say nothing about the provider.
    expect(lastCallFailed(decodeAttempts(['Error: job stalled more than allowable limit']), [])).toBe(false);
  });
  it('keeps a success in its stored form (epoch time, no class or end) and reads it back whole', () => {
    const success = fc.record(
      {
        at: fc.date({ min: new Date('2020-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
        http_status: fc.constantFrom(200, 201),
        class: fc.constant('success' as const),
        latency_ms: fc.nat(60_000),
        code: fc.string(),
        provider_response: fc.jsonValue(),
        lost_answer: fc.boolean(),
        uncounted: fc.boolean(),
        terminal: fc.constant(true),
      },
      { requiredKeys: ['at', 'http_status', 'class', 'latency_ms', 'terminal'] },
    );
    fc.assert(
      fc.property(success, (entry) => {
        const stored = storeSuccess(entry);
        expect(stored.at).toBe(Date.parse(entry.at));
        expect(Object.keys(stored).sort()).toEqual(Object.keys(entry).filter((k) => k !== 'class' && k !== 'terminal').sort());
        expect(readSuccess(JSON.parse(JSON.stringify(stored)))).toEqual(JSON.parse(JSON.stringify(entry)));
      }),
    );
  });
  it('notices a lost answer in the current run', () => {
    expect(hadLostAnswer([entry({ http_status: 'timeout' })])).toBe(true);
    expect(hadLostAnswer([entry({ http_status: 'timeout', terminal: true }), entry({})])).toBe(false);
  });
});

describe('backoff', () => {
  const retry = { attempts: 15, baseMs: 2000, maxMs: 3_600_000 };
  it('grows exponentially within [step/2, step] and stops at RETRY_MAX_MS', () => {
    expect(backoffDelay(retry, 1, undefined, () => 0)).toBe(1000);
    expect(backoffDelay(retry, 1, undefined, () => 1)).toBe(2000);
    expect(backoffDelay(retry, 4, undefined, () => 1)).toBe(16_000);
    expect(backoffDelay(retry, 30, undefined, () => 1)).toBe(3_600_000);
    expect(backoffDelay(retry, 30, undefined, () => 0)).toBe(1_800_000);
  });
  it("lets the provider's Retry-After win", () => {
    expect(backoffDelay(retry, 1, 7000)).toBe(7000);
    expect(backoffDelay(retry, 9, 0)).toBe(0);
  });
});

describe('circuit', () => {
  it('opens after failures from THRESHOLD different jobs, not from one job failing repeatedly', async () => {
    let now = 0;
    const changes: boolean[] = [];
    const share = new MemoryCircuitShare(() => now);
    const c = new Circuit({ threshold: 3, probeMs: 1000, maxProbeMs: 8000, callTimeoutMs: 500, share, onChange: (open) => changes.push(open), now: () => now });
    expect(await c.recordFailure('a')).toBe(false);
    expect(await c.recordFailure('a')).toBe(false);
    expect(await c.recordFailure('b')).toBe(false);
    expect(await c.recordFailure('c')).toBe(true);
    expect(changes).toEqual([true]);
    // open: nobody calls until the probe time, then exactly one probe at a time
    expect(await c.admit('d')).toBe(1000);
    now = 1000;
    expect(await c.admit('d')).toBe(0);
    expect(await c.admit('e')).toBeGreaterThan(0);
    await c.recordSuccess('d');
    expect(changes).toEqual([true, false]);
    expect(await c.admit('e')).toBe(0);
    c.stop();
  });
  it('a success in between resets the count', async () => {
    const share = new MemoryCircuitShare(Date.now);
    const c = new Circuit({ threshold: 2, probeMs: 1000, maxProbeMs: 8000, callTimeoutMs: 500, share, onChange: () => undefined });
    await c.recordFailure('a');
    await c.recordSuccess('a');
    expect(await c.recordFailure('b')).toBe(false);
  });
});
