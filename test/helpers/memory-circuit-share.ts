import type { CircuitShare, ProbeTiming } from '../../src/workers/circuit-share.js';

/** The Redis circuit share's semantics (src/workers/circuit-share.ts) in memory, on a clock the test moves. */
export class MemoryCircuitShare implements CircuitShare {
  markUntil = 0;
  leaseUntil = 0;
  /** The current wait between probes while open (the Redis mark's value). */
  wait = 0;
  closes = 0;

  constructor(private readonly now: () => number) {}

  async open(timing: ProbeTiming): Promise<void> {
    const now = this.now();
    this.wait = Math.max(now < this.markUntil ? this.wait : 0, timing.probeMs);
    this.markUntil = now + 2 * this.wait + timing.callTimeoutMs;
    if (now >= this.leaseUntil) this.leaseUntil = now + timing.probeMs;
  }

  async isOpen(): Promise<boolean> {
    return this.now() < this.markUntil;
  }

  async takeProbe(leaseMs: number): Promise<number> {
    const now = this.now();
    if (now >= this.markUntil) return -1;
    if (now >= this.leaseUntil) {
      this.leaseUntil = now + leaseMs;
      return 0;
    }
    return Math.max(1, this.leaseUntil - now);
  }

  async failed(timing: ProbeTiming, probe: boolean): Promise<number> {
    const now = this.now();
    if (now >= this.markUntil) return 0;
    this.wait = Math.max(this.wait, timing.probeMs);
    if (probe) {
      this.wait = Math.min(this.wait * 2, Math.max(timing.maxProbeMs, timing.probeMs));
      this.leaseUntil = now + this.wait;
    }
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
