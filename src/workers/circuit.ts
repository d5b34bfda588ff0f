import type { CircuitShare, ProbeTiming } from './circuit-share.js';

export interface CircuitOptions {
  /** CIRCUIT_THRESHOLD: different jobs failing in a row (no success between) that open it. */
  threshold: number;
  /** CIRCUIT_PROBE_MS: the wait before the first probe, and the least between two. */
  probeMs: number;
  /** RETRY_MAX_MS: the most between two probes; the wait doubles up to it while probes fail (CONTRACT §2). */
  maxProbeMs: number;
  /** PROVIDER_TIMEOUT_MS: how long a probe may take; the shared state outlives a hanging probe. */
  callTimeoutMs: number;
  share: CircuitShare;
  onChange: (open: boolean) => void;
  now?: () => number;
}

/** How often a closed circuit looks whether another process opened it (one Redis read, off the per-job path). */
const SHARED_CHECK_MAX_MS = 1000;

/**
 * A provider's circuit (CONTRACT §4): it opens after retryable failures from `threshold` different jobs with no
 * success between, so one bad payment cannot open it but an outage does. The open state and the probe slot are shared
 * through Redis (circuit-share.ts), so every worker process of the provider waits with it: one probe call at a time,
 * the first `probeMs` after opening, each next one twice as long after the previous one failed (up to `maxProbeMs`),
 * whichever process makes it; the first success closes it everywhere and the wait starts over. Backing off keeps jobs
 * that fail on their own from calling the provider every few seconds all night once they opened the circuit (issue 19);
 * jobs set aside still come by every `probeMs`, so resuming after a successful probe stays as quick. The pause between probes is queue-wide (BullMQ's limiter), so no process fetches meanwhile. This class
 * is the process's view: the failure count, the gauge and /readyz.
 */
export class Circuit {
  private readonly failingJobs = new Set<string>();
  private readonly now: () => number;
  private open = false;
  /** The job of this process whose call is the probe in flight. */
  private probeJob: string | undefined;
  private nextSharedCheckAt = 0;
  private sharedCheck: Promise<void> | undefined;
  private watch: NodeJS.Timeout | undefined;

  constructor(private readonly opts: CircuitOptions) {
    this.now = opts.now ?? Date.now;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * True when a job may call without asking anything: closed here, and no look at the shared state due. The common case
   * on a job's path, answered without a promise (`admit` otherwise).
   */
  callsFreely(): boolean {
    return !this.open && !this.sharedCheck && this.now() < this.nextSharedCheckAt;
  }

  /** How long a job must wait before it may call, or 0 when it may call now (and is then the probe if open). */
  async admit(jobId: string): Promise<number> {
    if (!this.open) {
      await this.checkShared();
      if (!this.open) return 0;
    }
    // One probe at a time: the next one can come no sooner than probeMs after this one ends, so wait that long
    // (never a 1 ms busy loop through Redis while a probe hangs).
    if (this.probeJob !== undefined) return this.opts.probeMs;
    this.probeJob = jobId;
    const slot = await this.opts.share.takeProbe(this.opts.probeMs + this.opts.callTimeoutMs).catch(() => 0);
    if (slot === 0) return 0;
    this.probeJob = undefined;
    // While another process's probe is in flight its lease covers a whole call timeout, but the next slot can come as
    // soon as probeMs after that probe answers: never pause the queue longer than that.
    if (slot > 0) return Math.min(slot, this.opts.probeMs);
    this.setOpen(false); // closed by another process's successful probe
    return 0;
  }

  async recordSuccess(jobId: string): Promise<void> {
    this.failingJobs.clear();
    if (this.probeJob === jobId) this.probeJob = undefined;
    if (!this.open) return;
    this.setOpen(false);
    await this.opts.share.close().catch(() => undefined);
  }

  /** Returns true when the circuit is open after this failure (the caller then does not spend an attempt). */
  async recordFailure(jobId: string): Promise<boolean> {
    if (this.open) {
      const wasProbe = this.probeJob === jobId;
      if (wasProbe) this.probeJob = undefined;
      const wait = await this.opts.share.failed(this.timing(), wasProbe).catch(() => 1);
      if (wait === 0) this.setOpen(false);
      return true;
    }
    this.failingJobs.add(jobId);
    if (this.failingJobs.size >= this.opts.threshold) {
      this.setOpen(true);
      // The first probe comes probeMs after opening (or when the wait of a circuit another process opened says).
      await this.opts.share.open(this.timing()).catch(() => undefined);
      return true;
    }
    // Another process may hold it open already: join it rather than spend attempts on our own count.
    if (await this.opts.share.isOpen().catch(() => false)) {
      this.setOpen(true);
      return true;
    }
    return false;
  }

  /** Non-retryable outcomes say nothing about availability, but they prove the provider answers. */
  recordAnswer(jobId: string): Promise<void> {
    return this.recordSuccess(jobId);
  }

  /** Stops watching the shared state (worker shutdown). */
  stop(): void {
    clearInterval(this.watch);
    this.watch = undefined;
  }

  private timing(): ProbeTiming {
    return { probeMs: this.opts.probeMs, maxProbeMs: this.opts.maxProbeMs, callTimeoutMs: this.opts.callTimeoutMs };
  }

  private async checkShared(): Promise<void> {
    if (!this.sharedCheck && this.now() < this.nextSharedCheckAt) return;
    this.sharedCheck ??= (async () => {
      this.nextSharedCheckAt = this.now() + Math.min(this.opts.probeMs, SHARED_CHECK_MAX_MS);
      if (await this.opts.share.isOpen().catch(() => false)) this.setOpen(true);
    })().finally(() => {
      this.sharedCheck = undefined;
    });
    await this.sharedCheck;
  }

  private setOpen(open: boolean): void {
    if (open === this.open) return;
    this.open = open;
    this.failingJobs.clear();
    this.probeJob = undefined;
    this.stop();
    // While open, notice a close made elsewhere even when this process has no job to try (gauge, /readyz).
    if (open) {
      let busy = false;
      this.watch = setInterval(() => {
        if (busy) return;
        busy = true;
        this.opts.share
          .isOpen()
          .then((still) => {
            if (!still) this.setOpen(false);
          }, () => undefined)
          .finally(() => {
            busy = false;
          });
      }, this.opts.probeMs);
      this.watch.unref();
    }
    this.opts.onChange(open);
  }
}
