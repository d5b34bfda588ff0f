import type { CircuitShare, ProbeKind, ProbeTiming } from '../../src/workers/circuit-share.js';

/** The Redis circuit share's semantics (src/workers/circuit-share.ts) in memory, on a clock the test moves. */
export class MemoryCircuitShare implements CircuitShare {
  markUntil = 0;
  /** The retry schedule's next slot (the lease). */
  leaseUntil = 0;
  /** A probe in flight, or one that ended less than probeMs ago. */
  gapUntil = 0;
  /** The current wait between retry probes while open (the Redis mark's value). */
  wait = 0;
  closes = 0;

  constructor(private readonly now: () => number) {}

  async open(timing: ProbeTiming): Promise<void> {
    const now = this.now();
    const wasOpen = now < this.markUntil;
    this.wait = Math.max(wasOpen ? this.wait : 0, timing.probeMs);
    this.markUntil = now + 2 * this.wait + timing.callTimeoutMs;
    if (now >= this.leaseUntil) this.leaseUntil = now + timing.probeMs;
    if (!wasOpen) this.gapUntil = now + timing.probeMs;
  }

  async isOpen(): Promise<boolean> {
    return this.now() < this.markUntil;
  }

  async takeProbe(leaseMs: number, kind: ProbeKind): Promise<number> {
    const now = this.now();
    if (now >= this.markUntil) return -1;
    let left = Math.max(0, this.gapUntil - now);
    if (kind === 'retry') left = Math.max(left, this.leaseUntil - now);
    if (left > 0) return left;
    if (kind === 'retry') this.leaseUntil = now + leaseMs;
    this.gapUntil = now + leaseMs;
    return 0;
  }

  async failed(timing: ProbeTiming, probe: ProbeKind | undefined): Promise<number> {
    const now = this.now();
    if (now >= this.markUntil) return 0;
    this.wait = Math.max(this.wait, timing.probeMs);
    if (probe === 'retry') {
      this.wait = Math.min(this.wait * 2, Math.max(timing.maxProbeMs, timing.probeMs));
      this.leaseUntil = now + this.wait;
    }
    if (probe) this.gapUntil = now + timing.probeMs;
    this.markUntil = now + 2 * this.wait + timing.callTimeoutMs;
    return this.wait;
  }

  async close(): Promise<void> {
    this.markUntil = 0;
    this.leaseUntil = 0;
    this.wait = 0;
    this.closes++;
  }
}
