import { afterEach, describe, expect, it } from 'vitest';
import { Circuit } from '../../src/workers/circuit.js';
import { MemoryCircuitShare } from '../helpers/memory-circuit-share.js';

/** CONTRACT §4 circuit rule, one process or several sharing one state (the Redis share's semantics, in memory). */
const PROBE_MS = 1000;
const MAX_PROBE_MS = 8000;
const TIMEOUT_MS = 500;

let now = 0;
/** What the circuit's random spread around a slot draws (0: the exact slot). */
let spread = 0;
const circuits: Circuit[] = [];
function circuit(share: MemoryCircuitShare, changes: boolean[] = []): Circuit {
  const c = new Circuit({ threshold: 3, probeMs: PROBE_MS, maxProbeMs: MAX_PROBE_MS, callTimeoutMs: TIMEOUT_MS, share, onChange: (open) => changes.push(open), now: () => now, random: () => spread });
  circuits.push(c);
  return c;
}
async function openIt(c: Circuit): Promise<void> {
  for (const job of ['a', 'b', 'c']) await c.recordFailure(job);
  expect(c.isOpen).toBe(true);
}

afterEach(() => {
  for (const c of circuits.splice(0)) c.stop();
  now = 0;
  spread = 0;
});

describe('circuit', () => {
  it('the opening failure and every failure while open spend no attempt; the first two do', async () => {
    const c = circuit(new MemoryCircuitShare(() => now));
    expect(await c.recordFailure('a')).toBe(false);
    expect(await c.recordFailure('b')).toBe(false);
    expect(await c.recordFailure('c')).toBe(true);
    expect(await c.recordFailure('d')).toBe(true);
  });

  it('while a probe is in flight, others wait a whole probe period, never a 1 ms busy loop', async () => {
    const c = circuit(new MemoryCircuitShare(() => now));
    await openIt(c);
    now = PROBE_MS;
    expect(await c.admit('p')).toBe(0);
    now = PROBE_MS * 3; // the probe hangs past the next probe time
    expect(await c.admit('q')).toBe(PROBE_MS);
  });

  it('after a failed probe the next one comes twice the previous wait after it ended (CONTRACT §2)', async () => {
    const c = circuit(new MemoryCircuitShare(() => now));
    await openIt(c);
    now = PROBE_MS;
    expect(await c.admit('p')).toBe(0);
    now = PROBE_MS + 400; // the probe took 400 ms
    expect(await c.recordFailure('p')).toBe(true);
    // Jobs still come by every probe period (a successful probe resumes them as quickly), but none may call.
    expect(await c.admit('q')).toBe(PROBE_MS);
    now += PROBE_MS;
    expect(await c.admit('q')).toBeGreaterThan(0);
    now += PROBE_MS - 1;
    expect(await c.admit('q')).toBe(1);
    now += 1;
    expect(await c.admit('q')).toBe(0);
  });

  it('a slot sooner than a probe period is waited for with a random spread, so the waiting jobs take it in any order', async () => {
    const share = new MemoryCircuitShare(() => now);
    const c = circuit(share);
    await openIt(c);
    now = PROBE_MS - 400; // the first slot is 400 ms away
    spread = 0.5;
    expect(await c.admit('a')).toBe(400 + 0.5 * 0.25 * PROBE_MS);
    spread = 0.1;
    expect(await c.admit('b')).toBe(400 + 0.1 * 0.25 * PROBE_MS);
    // Further than a probe period: back after one, as before; a job whose call just failed, after one plus the spread.
    await share.failed({ probeMs: PROBE_MS, maxProbeMs: MAX_PROBE_MS, callTimeoutMs: TIMEOUT_MS }, 'retry');
    expect(await c.admit('c')).toBe(PROBE_MS);
    expect(c.waitAfterFailure()).toBe(PROBE_MS + 0.1 * 0.25 * PROBE_MS);
  });

  it('while probes fail the wait doubles up to RETRY_MAX_MS, and starts over once the circuit closed', async () => {
    const share = new MemoryCircuitShare(() => now);
    const c = circuit(share);
    await openIt(c);
    /** Moves the clock to the next probe slot and returns how long that was; the probe there fails at once. */
    const failProbe = async (job: string): Promise<number> => {
      const from = now;
      for (let wait = await c.admit(job); wait > 0; wait = await c.admit(job)) now += wait;
      const waited = now - from;
      expect(await c.recordFailure(job)).toBe(true);
      return waited;
    };
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) waits.push(await failProbe(`p${i}`));
    expect(waits).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    await c.recordSuccess('ok');
    expect(share.wait).toBe(0);
    await openIt(c);
    expect(await failProbe('again')).toBe(PROBE_MS);
  });

  describe('a job that has not failed probes on the base interval; the jobs that failed back off (issue 19)', () => {
    /** Opens the circuit and fails retry probes until the retry wait reached RETRY_MAX_MS; returns the share. */
    async function grown(c: Circuit, share: MemoryCircuitShare): Promise<void> {
      await openIt(c);
      for (let i = 0; share.wait < MAX_PROBE_MS; i++) {
        for (let wait = await c.admit(`broken-${i % 3}`); wait > 0; wait = await c.admit(`broken-${i % 3}`)) now += wait;
        expect(await c.recordFailure(`broken-${i % 3}`)).toBe(true);
      }
      expect(share.wait).toBe(MAX_PROBE_MS);
    }

    it('a fresh job is let through CIRCUIT_PROBE_MS after the last probe, not after the grown wait', async () => {
      const share = new MemoryCircuitShare(() => now);
      const changes: boolean[] = [];
      const c = circuit(share, changes);
      await grown(c, share);
      // Right after a failed probe: the retry slot is RETRY_MAX_MS away, a fresh job's only CIRCUIT_PROBE_MS.
      expect(await c.admit('broken-0')).toBe(PROBE_MS); // set aside a probe period at a time, as before
      expect(share.leaseUntil - now).toBe(MAX_PROBE_MS);
      expect(await c.admit('healthy', () => 'fresh')).toBe(PROBE_MS);
      now += PROBE_MS;
      expect(await c.admit('broken-0')).toBeGreaterThan(0);
      expect(await c.admit('healthy', () => 'fresh')).toBe(0);
      await c.recordSuccess('healthy');
      expect(changes).toEqual([true, false]);
      expect(share.wait).toBe(0);
    });

    it('one probe at a time whatever its kind, and never two closer than CIRCUIT_PROBE_MS', async () => {
      const share = new MemoryCircuitShare(() => now);
      const a = circuit(share);
      const b = circuit(share);
      await openIt(a);
      expect(await b.recordFailure('z')).toBe(true);
      // The first probe of either kind comes CIRCUIT_PROBE_MS after opening.
      expect(await a.admit('new-1', () => 'fresh')).toBe(PROBE_MS);
      now = PROBE_MS;
      expect(await a.admit('new-1', () => 'fresh')).toBe(0);
      // While it is in flight, neither a retry job whose slot came nor another fresh job may call, in any process.
      expect(await b.admit('z')).toBeGreaterThan(0);
      expect(await b.admit('new-2', () => 'fresh')).toBeGreaterThan(0);
      now += 200; // the probe fails after 200 ms: the next one of either kind waits a probe period after it
      expect(await a.recordFailure('new-1')).toBe(true);
      expect(await b.admit('z')).toBe(PROBE_MS);
      expect(await b.admit('new-2', () => 'fresh')).toBe(PROBE_MS);
      now += PROBE_MS;
      expect(await b.admit('new-2', () => 'fresh')).toBe(0);
    });

    it('a failed fresh probe leaves the retry wait as it was; failed retry probes keep doubling it', async () => {
      const share = new MemoryCircuitShare(() => now);
      const c = circuit(share);
      await openIt(c);
      for (const job of ['n1', 'n2', 'n3']) {
        for (let wait = await c.admit(job, () => 'fresh'); wait > 0; wait = await c.admit(job, () => 'fresh')) now += wait;
        expect(await c.recordFailure(job)).toBe(true);
        expect(share.wait).toBe(PROBE_MS);
      }
      for (let wait = await c.admit('n1'); wait > 0; wait = await c.admit('n1')) now += wait;
      expect(await c.recordFailure('n1')).toBe(true);
      expect(share.wait).toBe(2 * PROBE_MS);
    });
  });

  it('a second process opening a circuit already open keeps its grown wait', async () => {
    const share = new MemoryCircuitShare(() => now);
    const a = circuit(share);
    const b = circuit(share);
    await openIt(a);
    now = PROBE_MS;
    expect(await a.admit('p')).toBe(0);
    expect(await a.recordFailure('p')).toBe(true);
    expect(share.wait).toBe(2 * PROBE_MS);
    await openIt(b); // its own count reached the threshold: it opens what is open already
    expect(share.wait).toBe(2 * PROBE_MS);
    expect(await b.admit('q')).toBe(PROBE_MS); // the slot is still 2 s away: b waits a probe period and comes back
  });

  it('a non-retryable answer proves the provider answers: it closes the circuit', async () => {
    const changes: boolean[] = [];
    const share = new MemoryCircuitShare(() => now);
    const c = circuit(share, changes);
    await openIt(c);
    await c.recordAnswer('x');
    expect(changes).toEqual([true, false]);
    expect(share.closes).toBe(1);
    expect(await c.admit('y')).toBe(0);
  });

  it('a second process joins an open circuit on its first failure, spending no attempt', async () => {
    const share = new MemoryCircuitShare(() => now);
    const a = circuit(share);
    const b = circuit(share);
    await openIt(a);
    expect(await b.recordFailure('z')).toBe(true);
    expect(b.isOpen).toBe(true);
  });

  it('a second process sees the open circuit before calling, and both share one probe slot', async () => {
    const share = new MemoryCircuitShare(() => now);
    const a = circuit(share);
    const b = circuit(share);
    await openIt(a);
    expect(await b.admit('j1')).toBeGreaterThan(0);
    expect(b.isOpen).toBe(true);
    now = PROBE_MS;
    expect(await b.admit('j1')).toBe(0);
    expect(await a.admit('j2')).toBeGreaterThan(0);
  });

  it("while another process's probe is in flight, a job waits at most a probe period, not the probe's whole lease", async () => {
    const share = new MemoryCircuitShare(() => now);
    const a = circuit(share);
    const b = circuit(share);
    await openIt(a);
    expect(await b.recordFailure('z')).toBe(true);
    now = PROBE_MS;
    expect(await a.admit('p')).toBe(0); // its lease covers PROBE_MS + TIMEOUT_MS
    expect(await b.admit('q')).toBe(PROBE_MS);
  });

  it("one process's successful probe closes the circuit for the others", async () => {
    const share = new MemoryCircuitShare(() => now);
    const a = circuit(share);
    const bChanges: boolean[] = [];
    const b = circuit(share, bChanges);
    await openIt(a);
    expect(await b.recordFailure('z')).toBe(true);
    now = PROBE_MS;
    expect(await a.admit('p')).toBe(0);
    await a.recordSuccess('p');
    expect(await b.admit('q')).toBe(0);
    expect(bChanges).toEqual([true, false]);
  });

  it('an open mark left by a crashed process expires', async () => {
    const share = new MemoryCircuitShare(() => now);
    const a = circuit(share);
    const b = circuit(share);
    await openIt(a);
    expect(await b.recordFailure('z')).toBe(true);
    now = 10 * (2 * PROBE_MS + TIMEOUT_MS); // nobody refreshed it
    expect(await b.admit('q')).toBe(0);
    expect(b.isOpen).toBe(false);
  });
});
