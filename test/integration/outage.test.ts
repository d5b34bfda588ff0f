import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordView } from '../../src/records/record-store.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { metricValue, startOutageProxy, type OutageProxy } from '../helpers/reliability.js';
import { uid } from '../helpers/ids.js';
import { until } from '../helpers/wait.js';

/**
 * CONTRACT §4 circuit rule, end to end: a provider outage opens that provider's circuit, its jobs wait without
 * spending attempts (one probe per CIRCUIT_PROBE_MS), other providers keep flowing, and everything resumes when a probe
 * succeeds. A job that fails on its own still goes dead after RETRY_ATTEMPTS. Figures: docs/RELIABILITY.md.
 */

const THRESHOLD = 3;
const PROBE_MS = 300;
const ATTEMPTS = 3;
/** Without the circuit, RETRY_ATTEMPTS × RETRY_MAX_MS (3 × 200 ms) would kill every job well within this. */
const OUTAGE_MS = 3000;
const JOBS = 20;
/** However slow the machine, the circuit stays open this long, so there are probes to measure. */
const OPEN_AT_LEAST_MS = 2000;
/**
 * Long, so that the bug the gap checks guard against (a process pausing the queue for a whole probe lease, CIRCUIT_PROBE_MS
 * + PROVIDER_TIMEOUT_MS) is far from what a busy machine's hiccups look like; the failing calls take 30 ms.
 */
const TIMEOUT_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const countedEntries = (records: RecordView[]) => records.flatMap((r) => r.history).filter((e) => e.class !== 'success' && !e.uncounted);
const counted = (r: RecordView) => countedEntries([r]).length;

async function circuitGauge(h: Harness, provider: string): Promise<number | undefined> {
  const res = await h.get('/metrics');
  return metricValue(String(res.body), 'fiscal_provider_circuit_open', { provider });
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * Gaps between probe starts, on the product's own clock. The code promises at least CIRCUIT_PROBE_MS between two (the
 * lease in Redis is exact), a pace of about one per CIRCUIT_PROBE_MS (jobs set aside come back within one), and never
 * a wait of a whole probe lease. The pace is checked on the median, so one late fetch on a busy machine does not fail
 * it while a queue paused for every lease (all gaps ≥ 1 lease) still does.
 */
function expectProbePace(gaps: readonly number[]): void {
  expect(gaps.length).toBeGreaterThan(2);
  expect(Math.min(...gaps), JSON.stringify(gaps)).toBeGreaterThanOrEqual(PROBE_MS - 2);
  expect(median(gaps), JSON.stringify(gaps)).toBeLessThan(2 * PROBE_MS);
  expect(Math.max(...gaps), JSON.stringify(gaps)).toBeLessThan(PROBE_MS + TIMEOUT_MS);
}

function openedAt(h: Harness, provider: string): number | undefined {
  for (const line of h.logs.lines) {
    const entry = JSON.parse(line) as { msg?: string; provider?: string; time?: string };
    if (entry.msg === 'provider circuit opened' && entry.provider === provider) return Date.parse(entry.time!);
  }
  return undefined;
}

describe('a provider outage opens its circuit and burns no attempts', () => {
  let sandbox: Sandbox;
  let proxy: OutageProxy;
  let h: Harness;

  beforeAll(async () => {
    sandbox = await startSandbox();
    proxy = await startOutageProxy(sandbox.url, '/payment/uzum_confirm', { delayMs: 30 });
    h = await startHarness({
      sandbox: false,
      env: {
        FISCALBOX_BASE_URL: proxy.url,
        CIRCUIT_THRESHOLD: String(THRESHOLD),
        CIRCUIT_PROBE_MS: String(PROBE_MS),
        RETRY_ATTEMPTS: String(ATTEMPTS),
        WORKER_CONCURRENCY: '20',
        PROVIDER_TIMEOUT_MS: String(TIMEOUT_MS),
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await proxy?.close();
    await sandbox?.close();
  });

  it('waits out the outage, probes one at a time, keeps other providers flowing, and resumes', async () => {
    const run = uid();
    const down = Array.from({ length: JOBS }, (_, i) => ({ provider: 'uzum', payment_id: `out-${run}-${i}`, qr_code: QR }));
    const healthy = Array.from({ length: JOBS }, (_, i) => ({ provider: 'payme', payment_id: `ok-${run}-${i}`, qr_code: QR }));
    const outageStart = Date.now();
    const res = await h.post('/v1/confirmations/batch', { items: [...down, ...healthy] });
    expect(res.status).toBe(200);
    const ids: string[] = res.body.results.map((r: { id: string }) => r.id);
    const downIds = ids.slice(0, JOBS);
    const healthyIds = ids.slice(JOBS);

    // Other providers keep flowing at full speed: every Payme job succeeds at its first call, during the outage, and
    // was fetched once (never set aside nor held by a pause: Uzum's circuit does not touch Payme's queue).
    const healthyRecords = await Promise.all(healthyIds.map((id) => h.waitForState(id, 'succeeded', 10_000)));
    const healthyDoneMs = Date.now() - outageStart;
    expect(healthyRecords.every((r) => r.attempts === 1)).toBe(true);
    const healthyFetches = await Promise.all(healthyIds.map((id) => h.app.redis.hget(h.app.queues.jobKey(id), 'ats')));
    expect(healthyFetches.map(Number)).toEqual(healthyIds.map(() => 1));

    // The circuit opens: metric and /readyz (still ready: Redis answers).
    await until('uzum circuit gauge = 1', async () => (await circuitGauge(h, 'uzum')) === 1);
    expect(await circuitGauge(h, 'payme')).toBe(0);
    const ready = await h.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, circuits_open: ['uzum'] });

    // The outage outlasts what RETRY_ATTEMPTS × backoff allows; no job may die meanwhile.
    const uzumQueue = h.app.queues.get('uzum');
    const openSeen = Date.now();
    while (Date.now() - outageStart < OUTAGE_MS || Date.now() - openSeen < OPEN_AT_LEAST_MS) {
      expect(await uzumQueue.getFailedCount()).toBe(0);
      await sleep(100);
    }
    const opened = openedAt(h, 'uzum')!;
    expect(opened).toBeGreaterThan(0);
    proxy.down = false;
    const recoveredAt = Date.now();

    // After recovery every job succeeds, the circuit closes, /readyz no longer lists it.
    const records = await Promise.all(downIds.map((id) => h.waitForState(id, 'succeeded', 10_000)));
    const resumeMs = Date.now() - recoveredAt;
    const firstSuccess = Math.min(...records.map((r) => Date.parse(r.history.at(-1)!.at)));
    const lastSuccess = Math.max(...records.map((r) => Date.parse(r.history.at(-1)!.at)));
    await until('uzum circuit gauge = 0', async () => (await circuitGauge(h, 'uzum')) === 0);
    const after = await h.get('/readyz');
    expect(after.status).toBe(200);
    expect(after.body.circuits_open).toBeUndefined();

    // Calls made while the circuit was open, by the product's own start times (the proxy stamps arrival, which the
    // shared event loop delays): one at a time, each at least CIRCUIT_PROBE_MS after the previous one.
    const calls = records.flatMap((r) => r.history).filter((e) => e.class !== 'success').map((e) => ({ start: Date.parse(e.at), end: Date.parse(e.at) + e.latency_ms }));
    const probes = calls.filter((c) => c.start > opened).sort((a, b) => a.start - b.start);
    const gaps = probes.slice(1).map((c, i) => c.start - probes[i]!.start);
    expect(probes.length).toBeGreaterThan(3);
    expectProbePace(gaps);
    expect(probes.slice(1).every((c, i) => c.start >= probes[i]!.end)).toBe(true);
    // No more probes than the open time allows; the proxy saw the same calls (nothing unrecorded went out).
    expect(probes.length).toBeLessThanOrEqual(Math.ceil((recoveredAt - opened) / PROBE_MS));
    const failedAtProxy = proxy.calls.filter((c) => c.answered === 503).length;
    expect(failedAtProxy).toBe(calls.length);

    // Attempts: only calls made before the circuit opened count (failures of fewer than THRESHOLD different jobs, one
    // of which may have been retried meanwhile); no job came near RETRY_ATTEMPTS.
    const countedAll = records.reduce((sum, r) => sum + counted(r), 0);
    expect(countedEntries(records).every((e) => Date.parse(e.at) < opened)).toBe(true);
    expect(Math.max(...records.map(counted))).toBeLessThan(ATTEMPTS);
    // Each job was fetched a bounded number of times: waiting is a pause, not a busy loop through Redis. A job set
    // aside comes back once per probe period, so the bound follows how long the jobs were held on this machine.
    const started = await Promise.all(downIds.map((id) => h.app.redis.hget(h.app.queues.jobKey(id), 'ats')));
    const maxStarted = Math.max(...started.map(Number));
    expect(maxStarted).toBeLessThan(Math.ceil((lastSuccess - outageStart) / PROBE_MS) * 3);

    expect(await uzumQueue.getFailedCount()).toBe(0);
    const summary = {
      outage_ms: recoveredAt - outageStart,
      healthy_done_ms: healthyDoneMs,
      calls_before_open: calls.length - probes.length,
      probes: probes.length,
      min_gap_ms: Math.min(...gaps),
      max_gap_ms: Math.max(...gaps),
      counted_failures_all_jobs: countedAll,
      max_fetches_per_job: maxStarted,
      resume_ms: resumeMs,
      first_to_last_success_ms: lastSuccess - firstSuccess,
    };
    process.stdout.write(`outage summary ${JSON.stringify(summary)}\n`);
  });
});

describe('a job failing on its own still goes dead after RETRY_ATTEMPTS', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      env: { CIRCUIT_THRESHOLD: String(THRESHOLD), CIRCUIT_PROBE_MS: String(PROBE_MS), RETRY_ATTEMPTS: String(ATTEMPTS) },
    });
  });
  afterAll(() => h?.close());

  it('one id always 503 among healthy traffic: dead after exactly RETRY_ATTEMPTS calls, circuit stays closed', async () => {
    const run = uid();
    const bad = `s503_${run}`;
    const items = [
      { provider: 'anor', transaction_id: bad, qr_code: QR },
      ...Array.from({ length: 10 }, (_, i) => ({ provider: 'anor', transaction_id: `fine-${run}-${i}`, qr_code: QR })),
    ];
    const res = await h.post('/v1/confirmations/batch', { items });
    const [badId, ...fineIds] = res.body.results.map((r: { id: string }) => r.id) as string[];
    const record = await h.waitForState(badId!, 'dead');
    await Promise.all(fineIds.map((id) => h.waitForState(id, 'succeeded')));
    expect(h.sandbox.calls('anor_confirm').filter((c) => c.key === bad)).toHaveLength(ATTEMPTS);
    expect(record.attempts).toBe(ATTEMPTS);
    expect(record.history.every((e) => !e.uncounted)).toBe(true);
    expect(record.error).toMatchObject({ kind: 'retryable', code: 'http_503' });
    expect(record.error?.message).toMatch(new RegExp(`gave up after ${ATTEMPTS} attempts`));
    expect(openedAt(h, 'anor')).toBeUndefined();
  });

  it('fewer than CIRCUIT_THRESHOLD different jobs failing with nothing else running: each dead after RETRY_ATTEMPTS', async () => {
    const run = uid();
    const bad = Array.from({ length: THRESHOLD - 1 }, (_, i) => `s500_${run}-${i}`);
    const res = await h.post('/v1/confirmations/batch', { items: bad.map((k) => ({ provider: 'payme', payment_id: k, qr_code: QR })) });
    const ids = res.body.results.map((r: { id: string }) => r.id) as string[];
    const records = await Promise.all(ids.map((id) => h.waitForState(id, 'dead')));
    for (const [i, key] of bad.entries()) {
      expect(h.sandbox.calls('payme_confirm').filter((c) => c.key === key)).toHaveLength(ATTEMPTS);
      expect(records[i]!.attempts).toBe(ATTEMPTS);
    }
    expect(openedAt(h, 'payme')).toBeUndefined();
    expect(await circuitGauge(h, 'payme')).toBe(0);
  });
});

describe('two worker processes in one outage', () => {
  let sandbox: Sandbox;
  let proxy: OutageProxy;
  let a: Harness;
  let b: Harness;

  beforeAll(async () => {
    sandbox = await startSandbox();
    proxy = await startOutageProxy(sandbox.url, '/payment/anor_confirm', { delayMs: 30 });
    const env = {
      FISCALBOX_BASE_URL: proxy.url,
      CIRCUIT_THRESHOLD: String(THRESHOLD),
      CIRCUIT_PROBE_MS: String(PROBE_MS),
      RETRY_ATTEMPTS: String(ATTEMPTS),
      WORKER_CONCURRENCY: '20',
      PROVIDER_TIMEOUT_MS: String(TIMEOUT_MS),
    };
    a = await startHarness({ sandbox: false, env });
    b = await startHarness({ sandbox: false, mode: 'worker', providers: ['anor'], env: { ...env, QUEUE_PREFIX: a.prefix } });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await proxy?.close();
    await sandbox?.close();
  });

  it('no job dies, the probe slot is shared (one call per CIRCUIT_PROBE_MS across both), and both resume', async () => {
    const run = uid();
    const items = Array.from({ length: JOBS }, (_, i) => ({ provider: 'anor', transaction_id: `two-${run}-${i}`, qr_code: QR }));
    const start = Date.now();
    const res = await a.post('/v1/confirmations/batch', { items });
    const ids = res.body.results.map((r: { id: string }) => r.id) as string[];
    const queue = a.app.queues.get('anor');
    // Both processes learn the circuit is open, whichever of them opened it.
    await until('both circuits open', async () => a.app.workers!.openCircuits().includes('anor') && b.app.workers!.openCircuits().includes('anor'));
    const bothOpen = Date.now();
    while (Date.now() - start < OUTAGE_MS || Date.now() - bothOpen < OPEN_AT_LEAST_MS) {
      expect(await queue.getFailedCount()).toBe(0);
      await sleep(100);
    }
    expect(a.app.workers!.openCircuits()).toEqual(['anor']);
    expect(b.app.workers!.openCircuits()).toEqual(['anor']);
    proxy.down = false;
    const records = await Promise.all(ids.map((id) => a.waitForState(id, 'succeeded', 10_000)));
    await until('both circuits closed', async () => a.app.workers!.openCircuits().length + b.app.workers!.openCircuits().length === 0);

    const calls = records.flatMap((r) => r.history).filter((e) => e.class !== 'success');
    const probes = calls.map((e) => Date.parse(e.at)).filter((t) => t > bothOpen).sort((x, y) => x - y);
    const gaps = probes.slice(1).map((t, i) => t - probes[i]!);
    expect(probes.length).toBeGreaterThan(3);
    // Nobody waits out the other's whole probe lease (a call timeout): the probes keep their pace.
    expectProbePace(gaps);
    const countedAll = records.reduce((sum, r) => sum + counted(r), 0);
    const lastOpened = Math.max(...[openedAt(a, 'anor'), openedAt(b, 'anor')].filter((t): t is number => t !== undefined));
    expect(countedEntries(records).every((e) => Date.parse(e.at) < lastOpened)).toBe(true);
    expect(Math.max(...records.map(counted))).toBeLessThan(ATTEMPTS);
    expect(await queue.getFailedCount()).toBe(0);
    process.stdout.write(`two-process outage summary ${JSON.stringify({ calls_before_open: calls.length - probes.length, probes: probes.length, min_gap_ms: Math.min(...gaps), max_gap_ms: Math.max(...gaps), counted_failures_all_jobs: countedAll })}\n`);
  });
});

describe('a slow outage: each failing call takes longer than CIRCUIT_PROBE_MS', () => {
  let sandbox: Sandbox;
  let proxy: OutageProxy;
  let h: Harness;
  beforeAll(async () => {
    sandbox = await startSandbox();
    proxy = await startOutageProxy(sandbox.url, '/payment/payme_confirm', { delayMs: 800 });
    h = await startHarness({
      sandbox: false,
      env: {
        FISCALBOX_BASE_URL: proxy.url,
        CIRCUIT_THRESHOLD: String(THRESHOLD),
        CIRCUIT_PROBE_MS: String(PROBE_MS),
        RETRY_ATTEMPTS: String(ATTEMPTS),
        PROVIDER_TIMEOUT_MS: '2000',
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await proxy?.close();
    await sandbox?.close();
  });

  it('one probe in flight at a time, and waiting jobs are not spun through Redis meanwhile', async () => {
    const run = uid();
    const items = Array.from({ length: JOBS }, (_, i) => ({ provider: 'payme', payment_id: `slow-${run}-${i}`, qr_code: QR }));
    const start = Date.now();
    const res = await h.post('/v1/confirmations/batch', { items });
    const ids = res.body.results.map((r: { id: string }) => r.id) as string[];
    await until('payme circuit open', async () => h.app.workers!.openCircuits().includes('payme'));
    const opened = await until('the opening logged', async () => openedAt(h, 'payme'));
    // Measure from when the calls that were in flight when it opened have all answered (800 ms each here).
    await until('the calls made before it opened to answer', async () => proxy.calls.filter((c) => c.at <= opened).every((c) => c.answered !== 0));
    proxy.resetInFlight();
    while (Date.now() - start < OUTAGE_MS + 1000) {
      expect(await h.app.queues.get('payme').getFailedCount()).toBe(0);
      await sleep(100);
    }
    const maxInFlight = proxy.maxInFlight;
    proxy.down = false;
    await Promise.all(ids.map((id) => h.waitForState(id, 'succeeded', 10_000)));
    const started = (await Promise.all(ids.map((id) => h.app.redis.hget(h.app.queues.jobKey(id), 'ats')))).map(Number);
    expect(maxInFlight).toBe(1);
    // A fetch per probe period at most (plus the start and the resume), not one per millisecond.
    const periods = Math.ceil((Date.now() - start) / PROBE_MS);
    expect(Math.max(...started)).toBeLessThanOrEqual(periods + 3);
    process.stdout.write(`slow outage summary ${JSON.stringify({ max_in_flight_while_open: maxInFlight, max_fetches_per_job: Math.max(...started), probe_periods: periods })}\n`);
  });
});

describe('jobs that fail on their own are not the only probes', () => {
  let sandbox: Sandbox;
  let proxy: OutageProxy;
  let h: Harness;
  beforeAll(async () => {
    sandbox = await startSandbox();
    proxy = await startOutageProxy(sandbox.url, '/payment/uzum_confirm');
    h = await startHarness({
      sandbox: false,
      env: { FISCALBOX_BASE_URL: proxy.url, CIRCUIT_THRESHOLD: String(THRESHOLD), CIRCUIT_PROBE_MS: String(PROBE_MS), RETRY_ATTEMPTS: String(ATTEMPTS) },
    });
  });
  afterAll(async () => {
    await h?.close();
    await proxy?.close();
    await sandbox?.close();
  });

  it('after the outage a probe that fails on its own goes behind the others, so the waiting jobs resume', async () => {
    const run = uid();
    // The circuit opens on jobs the provider will keep refusing after it is back (HTTP 500 for these ids).
    const broken = await h.post('/v1/confirmations/batch', {
      items: Array.from({ length: THRESHOLD }, (_, i) => ({ provider: 'uzum', payment_id: `s500_${run}-${i}`, qr_code: QR })),
    });
    await until('uzum circuit open', async () => h.app.workers!.openCircuits().includes('uzum'));
    const healthy = await h.post('/v1/confirmations/batch', {
      items: Array.from({ length: 10 }, (_, i) => ({ provider: 'uzum', payment_id: `later-${run}-${i}`, qr_code: QR })),
    });

    // Each of them probes once during the outage and fails (a job that has not failed probes on the base interval), so
    // after it every waiting job is one whose last call failed, the broken ones included: they take turns.
    await until('every later job to have failed once', async () =>
      Array.from({ length: 10 }, (_, i) => `later-${run}-${i}`).every((key) => proxy.calls.some((call) => call.key === key && call.answered === 503)),
    30_000);

    const fromCall = proxy.calls.length;
    proxy.down = false;
    const recoveredAt = Date.now();
    const records = await Promise.all(healthy.body.results.map((r: { id: string }) => h.waitForState(r.id, 'succeeded', 10_000)));
    expect(records).toHaveLength(10);
    const resumeMs = Date.now() - recoveredAt;
    // At most one failing probe per broken job before a healthy job probes: the probes take turns. Counted in the calls
    // the provider saw after it came back, in their order, so a slow machine changes the time it takes, not the count.
    // (Before the circuit spread the slots, one broken job took three turns in a row in about one run of eight, and
    // two broken jobs could take every turn for ever: circuit.ts SLOT_SPREAD.)
    const afterRecovery = proxy.calls.slice(fromCall);
    const firstSuccess = afterRecovery.findIndex((call) => call.answered === 200);
    expect(firstSuccess).toBeGreaterThanOrEqual(0);
    const failedFirst = afterRecovery.slice(0, firstSuccess).map((call) => call.key);
    expect(failedFirst.every((key) => key.startsWith(`s500_${run}`)), JSON.stringify(failedFirst)).toBe(true);
    expect(new Set(failedFirst).size, JSON.stringify(failedFirst)).toBe(failedFirst.length);
    expect(firstSuccess, JSON.stringify(failedFirst)).toBeLessThanOrEqual(THRESHOLD);
    const brokenIds = broken.body.results.map((r: { id: string }) => r.id) as string[];
    for (const id of brokenIds) expect((await h.app.records.get(id))!.state).not.toBe('succeeded');
    process.stdout.write(`rotating probe summary ${JSON.stringify({ resume_ms: resumeMs, failed_probes_before_a_healthy_one: failedFirst })}\n`);
  });
});
