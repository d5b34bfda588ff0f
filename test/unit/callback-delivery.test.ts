import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { attemptPosition, callbackDelay, type CallbackAttempt } from '../../src/callbacks/attempts.js';
import { captureRecord, type RecordReader } from '../../src/callbacks/capture.js';
import { callbackEventId, runOfFinished, type CallbackJobData } from '../../src/callbacks/events.js';
import { currentRun } from '../../src/workers/job-progress.js';
import { ADDRESS_REFUSED, guardedLookup } from '../../src/callbacks/safe-dispatcher.js';
import { encodeAttempt, type AttemptEntry } from '../../src/domain/attempt.js';

// Issue 17: the delivery's building blocks, without I/O: the connect-time address check, event ids and runs, attempt
// numbering and backoff, and the capture of the record an event is about.

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);

describe('guarded DNS lookup (connect-time address check)', () => {
  const resolver = (addresses: LookupAddress[]): LookupFunction => (_host, _options, callback) => callback(null, addresses);
  const run = (lookup: LookupFunction, all: boolean) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family?: number | undefined }>((resolve) =>
      lookup('host.test', { all }, (err, address, family) => resolve({ err, address, family })),
    );

  it('a guarded lookup passes allowed addresses in both lookup forms', async () => {
    const lookup = guardedLookup(resolver([{ address: '93.184.216.34', family: 4 }, { address: '2606:4700::1111', family: 6 }]), 'public');
    expect(await run(lookup, true)).toMatchObject({ err: null, address: [{ address: '93.184.216.34' }, { address: '2606:4700::1111' }] });
    expect(await run(lookup, false)).toMatchObject({ err: null, address: '93.184.216.34', family: 4 });
  });

  it('a guarded lookup refuses the name when any one of its addresses breaks the rule', async () => {
    const mixed = guardedLookup(resolver([{ address: '93.184.216.34', family: 4 }, { address: '10.1.2.3', family: 4 }]), 'public');
    const refused = await run(mixed, false);
    expect(refused.err?.code).toBe(ADDRESS_REFUSED);
    expect(refused.err?.message).toMatch(/^host\.test resolved to 10\.1\.2\.3; .*public addresses.*CALLBACK_PRIVATE_HOSTS/);
    expect((await run(guardedLookup(resolver([]), 'public'), true)).err?.code).toBe(ADDRESS_REFUSED);
    expect((await run(guardedLookup(resolver([{ address: '10.1.2.3', family: 4 }]), 'any'), false)).err).toBeNull();
    const http = await run(guardedLookup(resolver([{ address: '93.184.216.34', family: 4 }]), 'loopback'), false);
    expect(http.err?.message).toMatch(/loopback address \(plain http\)/);
    const failing: LookupFunction = (_h, _o, callback) => callback(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), '', undefined);
    expect((await run(guardedLookup(failing, 'public'), false)).err?.code).toBe('ENOTFOUND');
  });
});

describe('callback events and attempts', () => {
  const entry = (terminal: boolean): string => encodeAttempt({ at: '', http_status: 500, class: 'retryable', latency_ms: 1, ...(terminal ? { terminal } : {}) } as AttemptEntry);

  it('names an event by record, terminal state and run; a replayed record that ends again is a new event', () => {
    expect(callbackEventId('payme.p-1', 'succeeded', 0)).toBe('callbacks.payme.p-1.succeeded.0');
    const firstRunDead = { stacktrace: [entry(false), entry(true)] };
    expect(runOfFinished(firstRunDead, 'dead')).toBe(0);
    expect(currentRun({ stacktrace: [entry(false)] })).toBe(0); // the same event, seen before the dead letter was stored
    const replayedThenSucceeded = { stacktrace: [entry(false), entry(true), entry(false)] };
    expect(runOfFinished(replayedThenSucceeded, 'succeeded')).toBe(1);
    expect(currentRun(replayedThenSucceeded)).toBe(1);
    expect(runOfFinished({ stacktrace: [entry(true), entry(false), entry(true)] }, 'dead')).toBe(1);
  });

  it('numbers attempts per run and opens a new retry window after a replay', () => {
    const attempt = (n: number, windowFrom: number, terminal = false): CallbackAttempt => ({
      at: '', http_status: 500, code: 'http_500', message: '', latency_ms: 1, attempt: n, window_from: windowFrom, ...(terminal ? { terminal } : {}),
    });
    expect(attemptPosition([], 1000, 5000)).toEqual({ attempt: 1, windowFrom: 1000 });
    expect(attemptPosition([attempt(1, 1000), attempt(2, 1000)], 1000, 5000)).toEqual({ attempt: 3, windowFrom: 1000 });
    expect(attemptPosition([attempt(1, 1000), attempt(2, 1000, true)], 1000, 5000)).toEqual({ attempt: 1, windowFrom: 5000 });
  });

  it('backs off exponentially with jitter up to RETRY_MAX_MS; a Retry-After wins but never beyond it', () => {
    const retry = { attempts: 15, baseMs: 1000, maxMs: 60_000 };
    for (let n = 1; n <= 10; n++) {
      const step = Math.min(60_000, 1000 * 2 ** (n - 1));
      const delay = callbackDelay(retry, n, undefined);
      expect(delay).toBeGreaterThanOrEqual(step / 2);
      expect(delay).toBeLessThanOrEqual(step);
    }
    expect(callbackDelay(retry, 1, 5000)).toBe(5000);
    expect(callbackDelay(retry, 1, 3_600_000)).toBe(60_000);
  });
});

describe('capturing the record of an event', () => {
  const data: CallbackJobData = { record_id: 'payme.p-1', queue: 'payme', state: 'succeeded', run: 0, event_at: NOW };
  const success = { data: { ok: true }, attempt: { at: new Date(NOW).toISOString(), http_status: 200, class: 'success', latency_ms: 5, terminal: true } };
  const job = (fields: Partial<Job>) => ({ id: 'payme.p-1', queueName: 'payme', data: { payment_id: 'p-1' }, timestamp: NOW - 1000, stacktrace: [], ...fields }) as unknown as Job;
  const reader = (found: Awaited<ReturnType<RecordReader>>): RecordReader => async () => found;

  it('captures the record view of the event it was scheduled for', async () => {
    const capture = await captureRecord(reader({ job: job({ returnvalue: success, finishedOn: NOW }), state: 'completed' }), data);
    expect(capture.kind).toBe('ready');
    if (capture.kind === 'ready') expect(JSON.parse(capture.body)).toMatchObject({ id: 'payme.p-1', state: 'succeeded', result: { ok: true }, attempts: 1 });
  });

  it('waits while the record has not stored its end, and skips an event that did not happen as scheduled', async () => {
    expect(await captureRecord(reader({ job: job({}), state: 'active' }), data)).toEqual({ kind: 'pending', state: 'active' });
    expect(await captureRecord(reader(undefined), data)).toMatchObject({ kind: 'skip', reason: 'record_gone' });
    const dead = job({ stacktrace: [encodeAttempt({ at: '', http_status: 500, class: 'rejected', latency_ms: 1, terminal: true })], finishedOn: NOW });
    expect(await captureRecord(reader({ job: dead, state: 'failed' }), data)).toMatchObject({ kind: 'skip', reason: 'superseded' });
    const replayed = job({ stacktrace: [encodeAttempt({ at: '', http_status: 500, class: 'rejected', latency_ms: 1, terminal: true })] });
    expect(await captureRecord(reader({ job: replayed, state: 'waiting' }), { ...data, state: 'dead' })).toMatchObject({ kind: 'skip', reason: 'superseded' });
  });
});
