import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';
import { until } from '../helpers/wait.js';

/**
 * CONTRACT §2: while a circuit is open, one probe at a time, the first after CIRCUIT_PROBE_MS, the wait doubling while
 * probes fail, up to RETRY_MAX_MS; it starts over once the circuit closed (issue 19: jobs that always fail opened the
 * circuit at night and probed every 5 s until morning). The doubling holds for jobs whose own latest call failed; a
 * job that has not failed probes CIRCUIT_PROBE_MS after the last probe (src/workers/circuit.ts), so the morning's first
 * healthy job is not held for the grown wait.
 *
 * Gaps are measured on the product's own clock: each call's start and duration as its record keeps them. A probe is a
 * call that started after the circuit opened (a call in flight at that moment started before), and the next slot is
 * counted from when the previous probe ended, as the code counts it.
 */

const PROBE_MS = 100;
const THRESHOLD = 3;
/** How long a step of these tests may take on a busy machine. */
const WAIT_MS = 20_000;

/** When this process logged each change of the uzum circuit, in order (ms). */
function circuitChanges(h: Harness): { open: boolean; at: number }[] {
  return h.logs.lines
    .map((line) => JSON.parse(line) as { msg?: string; provider?: string; time?: string })
    .filter((entry) => entry.provider === 'uzum' && (entry.msg === 'provider circuit opened' || entry.msg === 'provider circuit closed'))
    .map((entry) => ({ open: entry.msg === 'provider circuit opened', at: Date.parse(entry.time!) }));
}

interface Call {
  start: number;
  end: number;
}

/** Every failed call of these records, as the product recorded it, oldest first. */
async function failedCalls(h: Harness, ids: readonly string[]): Promise<Call[]> {
  const records = await Promise.all(ids.map((id) => h.app.records.get(id)));
  return records
    .flatMap((record) => record?.history ?? [])
    .filter((entry) => entry.class !== 'success')
    .map((entry) => ({ start: Date.parse(entry.at), end: Date.parse(entry.at) + entry.latency_ms }))
    .sort((a, b) => a.start - b.start);
}

/** The calls that started after `openedAt`, and each one's wait: from the opening, then from the previous one's end. */
function probesAfter(calls: readonly Call[], openedAt: number): { probes: Call[]; waits: number[] } {
  const probes = calls.filter((call) => call.start > openedAt);
  return { probes, waits: probes.map((probe, k) => probe.start - (k === 0 ? openedAt : probes[k - 1]!.end)) };
}

const brokenItems = (run: string) => Array.from({ length: THRESHOLD }, (_, i) => ({ provider: 'uzum', payment_id: `s500_${run}-${i}`, qr_code: QR }));
const brokenIds = (run: string) => brokenItems(run).map((item) => `uzum.${item.payment_id}`);

describe('an open circuit backs its probes off while they fail', () => {
  const MAX_PROBE_MS = 1600;
  /** The waits after opening: 100, 200, 400, 800, 1600, 1600, 1600 ms (at least). */
  const SCHEDULE = Array.from({ length: 7 }, (_, k) => Math.min(PROBE_MS * 2 ** k, MAX_PROBE_MS));
  /**
   * How late a probe may start after its slot: a job set aside comes back within one probe period, then a fetch and
   * the admission in Redis (measured: 5–15 ms late on an idle machine, up to 410 ms on one core); the rest is room for
   * a busy machine. Below MAX_PROBE_MS, so a wait that kept doubling past the cap (3200 ms) would fail.
   */
  const LATE_MS = MAX_PROBE_MS - PROBE_MS;

  let sandbox: Sandbox;
  let first: Harness;
  let second: Harness;
  const env = {
    CIRCUIT_THRESHOLD: String(THRESHOLD),
    CIRCUIT_PROBE_MS: String(PROBE_MS),
    RETRY_MAX_MS: String(MAX_PROBE_MS),
    RETRY_BASE_MS: '20',
    RETRY_ATTEMPTS: '100', // jobs that fail before the circuit opens spend attempts; none may die during the test
  };

  beforeAll(async () => {
    sandbox = await startSandbox();
    first = await startHarness({ sandbox: false, env: { ...env, FISCALBOX_BASE_URL: sandbox.url }, providers: ['uzum'] });
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
    await sandbox?.close();
  });

  it('doubles the wait up to RETRY_MAX_MS across processes, and starts over after the circuit closed', async () => {
    const run = uid();
    // Three payments the provider always fails (HTTP 500) and nothing else: what opened the circuit every night.
    const accepted = await first.post('/v1/confirmations/batch', { items: brokenItems(run) });
    expect(accepted.status).toBe(200);
    const broken = brokenIds(run);

    const openedAt = await until('the circuit to open', () => circuitChanges(first)[0]?.at, WAIT_MS);
    // A second process joins the open circuit (it reads the shared state before its first call) ...
    second = await startHarness({ mode: 'worker', sandbox: false, env: { ...env, QUEUE_PREFIX: first.prefix, FISCALBOX_BASE_URL: sandbox.url } });
    await until('three probes', async () => probesAfter(await failedCalls(second, broken), openedAt).probes.length >= 3, WAIT_MS);
    // ... and carries on alone: the wait it sees is the one the first process's failed probes doubled.
    await first.close();
    await until('seven probes', async () => probesAfter(await failedCalls(second, broken), openedAt).probes.length >= SCHEDULE.length, 30_000);

    const { waits } = probesAfter(await failedCalls(second, broken), openedAt);
    const measured = waits.slice(0, SCHEDULE.length);
    process.stdout.write(`circuit backoff waits (ms) ${JSON.stringify({ expected_at_least: SCHEDULE, measured })}\n`);
    measured.forEach((wait, k) => {
      // Never before the slot (the lease in Redis is exact), and not much after it.
      expect(wait, `wait ${k}: ${JSON.stringify(measured)}`).toBeGreaterThanOrEqual(SCHEDULE[k]! - 2);
      expect(wait, `wait ${k}: ${JSON.stringify(measured)}`).toBeLessThan(SCHEDULE[k]! + LATE_MS);
    });
    // The circuit stayed open throughout: no close, in either process, and every call to the sandbox failed.
    expect([...circuitChanges(first), ...circuitChanges(second)].filter((change) => !change.open)).toEqual([]);
    const atSandbox = sandbox.calls('uzum_confirm').filter((call) => call.key.startsWith(`s500_${run}`));
    expect(atSandbox.every((call) => call.answered === '500')).toBe(true);

    // A healthy payment arrives: it has not failed, so it probes CIRCUIT_PROBE_MS after the last probe, succeeds, and
    // closes the circuit; the broken jobs then fail on their own again and reopen it, with the wait back at
    // CIRCUIT_PROBE_MS.
    const healthy = await second.app.producer.enqueue({ provider: 'uzum', payment_id: `ok-${run}`, qr_code: QR });
    expect(healthy.result).toBe('created');
    await second.waitForState(`uzum.ok-${run}`, 'succeeded', 20_000);
    const reopenedAt = await until('the circuit to reopen', () => {
      const changes = circuitChanges(second);
      const closed = changes.findIndex((change) => !change.open);
      return closed >= 0 ? changes.slice(closed + 1).find((change) => change.open)?.at : undefined;
    }, WAIT_MS);
    await until('a probe after reopening', async () => probesAfter(await failedCalls(second, broken), reopenedAt).probes.length >= 1, WAIT_MS);
    const [firstWait] = probesAfter(await failedCalls(second, broken), reopenedAt).waits;
    process.stdout.write(`circuit backoff after reopening: first wait ${firstWait} ms\n`);
    expect(firstWait).toBeGreaterThanOrEqual(PROBE_MS - 2);
    expect(firstWait).toBeLessThan(PROBE_MS + LATE_MS);
  }, 60_000);
});

describe('a job that has not failed is not held for the grown wait', () => {
  /** Large, so the grown wait and CIRCUIT_PROBE_MS are far apart. */
  const MAX_PROBE_MS = 60_000;
  /** Failed probes before the healthy job comes: the retry wait is then 100 × 2^5 = 3200 ms. */
  const FAILED_PROBES = 5;
  const GROWN_WAIT_MS = PROBE_MS * 2 ** FAILED_PROBES;
  let sandbox: Sandbox;
  let h: Harness;

  beforeAll(async () => {
    sandbox = await startSandbox();
    h = await startHarness({
      sandbox: false,
      providers: ['uzum'],
      env: {
        FISCALBOX_BASE_URL: sandbox.url,
        CIRCUIT_THRESHOLD: String(THRESHOLD),
        CIRCUIT_PROBE_MS: String(PROBE_MS),
        RETRY_MAX_MS: String(MAX_PROBE_MS),
        RETRY_BASE_MS: '20',
        RETRY_ATTEMPTS: '100',
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await sandbox?.close();
  });

  it('a healthy job arriving while the wait has grown is called within about CIRCUIT_PROBE_MS and closes the circuit', async () => {
    const run = uid();
    await h.post('/v1/confirmations/batch', { items: brokenItems(run) });
    const broken = brokenIds(run);
    const openedAt = await until('the circuit to open', () => circuitChanges(h)[0]?.at, WAIT_MS);
    // Right after the probe that grew the wait to GROWN_WAIT_MS has failed: the next retry slot is that far away.
    const failedAt = await until(
      `${FAILED_PROBES} failed probes`,
      async () => probesAfter(await failedCalls(h, broken), openedAt).probes[FAILED_PROBES - 1]?.end,
      30_000,
    );
    const arrived = Date.now();
    const healthy = await h.app.producer.enqueue({ provider: 'uzum', payment_id: `ok-${run}`, qr_code: QR });
    expect(healthy.result).toBe('created');
    const done = await h.waitForState(`uzum.ok-${run}`, 'succeeded', 20_000);
    const calledAt = Date.parse(done.history.at(-1)!.at);
    const calledAfterMs = calledAt - arrived;
    const probes = probesAfter(await failedCalls(h, broken), openedAt).probes.filter((probe) => probe.start < calledAt);
    process.stdout.write(
      `healthy job under a grown wait ${JSON.stringify({ grown_wait_ms: GROWN_WAIT_MS, arrived_after_failed_probe_ms: arrived - failedAt, called_after_arrival_ms: calledAfterMs })}\n`,
    );
    // Its only call, the probe that closed the circuit; no broken job probed between its arrival and its call.
    expect(done.attempts).toBe(1);
    expect(probes).toHaveLength(FAILED_PROBES);
    const [opened, closed] = circuitChanges(h);
    expect([opened?.open, closed?.open]).toEqual([true, false]);
    expect(closed!.at).toBeGreaterThanOrEqual(calledAt);
    // Called within a few probe periods (set aside at most one while the queue is paused, one more while the last
    // probe's gap runs), far sooner than the grown wait: a wait for the next retry slot would be ≥ GROWN_WAIT_MS - the
    // time since the failed probe.
    expect(calledAfterMs).toBeLessThan(GROWN_WAIT_MS / 2);
  }, 60_000);
});
