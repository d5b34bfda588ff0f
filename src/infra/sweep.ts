/**
 * Timeouts on the hot paths (a provider call, a request's Redis work) without a timer per operation: `AbortSignal.timeout`
 * costs a timer, a weak reference and a finalizer each, and `AbortSignal.any` a second signal (profiles in
 * docs/BENCHMARKS.md). Entries wait in one set that one interval sweeps, every `everyMs`, only while the set is not
 * empty; an entry fires at most `everyMs` after its time.
 */
export interface SweepEntry {
  /** performance.now() at or after which `fire` runs. */
  at: number;
  fire(): void;
}

export class Sweep {
  private readonly entries = new Set<SweepEntry>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly everyMs: number) {}

  add(entry: SweepEntry): void {
    this.entries.add(entry);
    if (this.timer) return;
    this.timer = setInterval(() => this.run(), this.everyMs);
    this.timer.unref();
  }

  delete(entry: SweepEntry): void {
    this.entries.delete(entry);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private run(): void {
    const now = performance.now();
    for (const entry of this.entries) {
      if (now < entry.at) continue;
      this.entries.delete(entry);
      entry.fire();
    }
    if (this.entries.size === 0) this.stop();
  }
}
