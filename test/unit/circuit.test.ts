import { afterEach, describe, expect, it } from 'vitest';
import { Circuit } from '../../src/workers/circuit.js';
import { MemoryCircuitShare } from '../helpers/memory-circuit-share.js';

/** CONTRACT §4 circuit rule, one process or several sharing one state (the Redis share's semantics, in memory). */
const PROBE_MS = 1000;
const MAX_PROBE_MS = 8000;
const TIMEOUT_MS = 500;

let now = 0;
const circuits: Circuit[] = [];
function circuit(share: MemoryCircuitShare, changes: boolean[] = []): Circuit {
  const c = new Circuit({ threshold: 3, probeMs: PROBE_MS, maxProbeMs: MAX_PROBE_MS, callTimeoutMs: TIMEOUT_MS, share, onChange: (open) => changes.push(open), now: () => now });
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
