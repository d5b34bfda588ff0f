import type { CircuitShare } from '../../src/workers/circuit-share.js';

/** The Redis circuit share's semantics (src/workers/circuit-share.ts) in memory, on a clock the test moves. */
export class MemoryCircuitShare implements CircuitShare {
  markUntil = 0;
  leaseUntil = 0;
  closes = 0;

  constructor(private readonly now: () => number) {}

  async open(markMs: number, leaseMs: number): Promise<void> {
    this.markUntil = this.now() + markMs;
    if (this.now() >= this.leaseUntil) this.leaseUntil = this.now() + leaseMs;
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

  async failed(markMs: number, leaseMs: number): Promise<boolean> {
    const now = this.now();
    if (now >= this.markUntil) return false;
    this.markUntil = now + markMs;
    if (leaseMs > 0) this.leaseUntil = now + leaseMs;
    return true;
  }

  async close(): Promise<void> {
    this.markUntil = 0;
    this.leaseUntil = 0;
    this.closes++;
  }
}
