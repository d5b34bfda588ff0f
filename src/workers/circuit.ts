/**
 * A provider's circuit (CONTRACT §4): it opens after retryable failures from `threshold` different jobs with no
 * success between, so one bad payment cannot open it but an outage does. While open, at most one call (the probe)
 * goes out per `probeMs`; the first success closes it. The state is per process; the pause it causes is queue-wide
 * (BullMQ's limiter), so other processes stop fetching too.
 */
export class Circuit {
  private readonly failingJobs = new Set<string>();
  private openedAt: number | undefined;
  private nextProbeAt = 0;
  private probeInFlight = false;

  constructor(
    private readonly threshold: number,
    private readonly probeMs: number,
    private readonly onChange: (open: boolean) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get isOpen(): boolean {
    return this.openedAt !== undefined;
  }

  /** How long a job must wait before it may call, or 0 when it may call now (and is then the probe if open). */
  admit(): number {
    if (this.openedAt === undefined) return 0;
    const now = this.now();
    if (this.probeInFlight || now < this.nextProbeAt) return Math.max(this.nextProbeAt - now, 1);
    this.probeInFlight = true;
    this.nextProbeAt = now + this.probeMs;
    return 0;
  }

  recordSuccess(): void {
    this.failingJobs.clear();
    this.probeInFlight = false;
    if (this.openedAt !== undefined) {
      this.openedAt = undefined;
      this.onChange(false);
    }
  }

  /** Returns true when the circuit is open after this failure (the caller then does not spend an attempt). */
  recordFailure(jobId: string): boolean {
    if (this.openedAt !== undefined) {
      this.probeInFlight = false;
      return true;
    }
    this.failingJobs.add(jobId);
    if (this.failingJobs.size < this.threshold) return false;
    this.open();
    return true;
  }

  /** Another process opened it (seen on a failure); join without waiting for our own threshold. */
  open(): void {
    if (this.openedAt !== undefined) return;
    this.openedAt = this.now();
    this.nextProbeAt = this.openedAt + this.probeMs;
    this.probeInFlight = false;
    this.onChange(true);
  }

  /** Non-retryable outcomes say nothing about availability, but they prove the provider answers. */
  recordAnswer(): void {
    this.recordSuccess();
  }
}
