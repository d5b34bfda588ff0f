import type { CircuitShare, ProbeKind, ProbeTiming } from './circuit-share.js';

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
  /** Picks the spread around a probe slot (tests: a fixed value). */
  random?: () => number;
}

/** How often a closed circuit looks whether another process opened it (one Redis read, off the per-job path). */
const SHARED_CHECK_MAX_MS = 1000;

/**
 * Jobs waiting for a slot come back at the slot plus up to this share of CIRCUIT_PROBE_MS, at random. Back at the
 * exact slot, they tied in BullMQ's delayed order, which then follows the order they were set aside in: the job whose
 * probe had just failed (set aside once, a wait after its failure, which is when the slot is) came first again and
 * again, and two broken jobs took every slot in turn while the healthy jobs waiting with them never got one
 * (test/integration/outage.test.ts; with a grown wait the failed prober's own rhythm lines up with its next slot the
 * same way). At random, each waiting job is as likely to be next.
 */
const SLOT_SPREAD = 0.25;

/**
 * A provider's circuit (CONTRACT §4): it opens after retryable failures from `threshold` different jobs with no
 * success between, so one bad payment cannot open it but an outage does. The open state and the probe slot are shared
 * through Redis (circuit-share.ts), so every worker process of the provider waits with it: one probe call at a time,
 * never two closer than `probeMs`, whichever process makes it; the first success closes it everywhere and the wait
 * starts over. The pause between probes is queue-wide (BullMQ's limiter), so no process fetches meanwhile; jobs set
 * aside still come by every `probeMs`, so resuming after a successful probe stays as quick. This class is the
 * process's view: the failure count, the gauge and /readyz.
 *
 * CONTRACT §2 backs the probes off: the interval doubles while probes fail, up to `maxProbeMs` (issue 19: jobs that
 * always fail opened the circuit at night and probed every few seconds until morning). The doubling is kept for the
 * jobs whose own latest call failed (`retry` probes): they are the ones that keep failing, whether the provider is
 * down or only they are broken. A job that has not failed (`fresh`: new traffic, or a job held before its first call)
 * probes `probeMs` after the last probe, as the first probe after opening does. So after a night of broken jobs the
 * morning's first healthy job is called within about `probeMs`, not after an hour's grown wait; after a real outage
 * the provider's recovery is noticed by the next fresh job, not the next slot of the grown schedule. The cost: during
 * an outage each held job makes at most one such probe (the call it would have made anyway, one per `probeMs` at
 * most) before it joins the backed-off schedule. Rejected alternative: letting probes of a few broken jobs spend
 * attempts, so they go dead and the circuit closes: the circuit cannot tell them from an outage that holds few jobs,
 * whose probes must not burn attempts (CONTRACT §4).
 */
export class Circuit {
  private readonly failingJobs = new Set<string>();
  private readonly now: () => number;
  private open = false;
  /** The job of this process whose call is the probe in flight, and which schedule it probed on. */
  private probe: { job: string; kind: ProbeKind } | undefined;
  private nextSharedCheckAt = 0;
  private sharedCheck: Promise<void> | undefined;
  private watch: NodeJS.Timeout | undefined;

  private readonly random: () => number;

  constructor(private readonly opts: CircuitOptions) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
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

  /**
   * How long a job must wait before it may call, or 0 when it may call now (and is then the probe if open). `kind` says
   * whether the job's own latest call failed (asked only while the circuit is open).
   */
  async admit(jobId: string, kind: () => ProbeKind = () => 'retry'): Promise<number> {
    if (!this.open) {
      await this.checkShared();
      if (!this.open) return 0;
    }
    // One probe at a time: the next one can come no sooner than probeMs after this one ends, so wait that long
    // (never a 1 ms busy loop through Redis while a probe hangs).
    if (this.probe !== undefined) return this.opts.probeMs;
    this.probe = { job: jobId, kind: kind() };
    const slot = await this.opts.share.takeProbe(this.opts.probeMs + this.opts.callTimeoutMs, this.probe.kind).catch(() => 0);
    if (slot === 0) return 0;
    this.probe = undefined;
    // While another process's probe is in flight its lease covers a whole call timeout, but the next slot can come as
    // soon as probeMs after that probe answers: never pause the queue longer than that. A slot that comes sooner is
    // waited for with a spread, so whoever is waiting takes it at random.
    if (slot > 0) return slot < this.opts.probeMs ? slot + this.spread() : this.opts.probeMs;
    this.setOpen(false); // closed by another process's successful probe
    return 0;
  }

  async recordSuccess(jobId: string): Promise<void> {
    this.failingJobs.clear();
    if (this.probe?.job === jobId) this.probe = undefined;
    if (!this.open) return;
    this.setOpen(false);
    await this.opts.share.close().catch(() => undefined);
  }

  /** Returns true when the circuit is open after this failure (the caller then does not spend an attempt). */
  async recordFailure(jobId: string): Promise<boolean> {
    if (this.open) {
      const probe = this.probe?.job === jobId ? this.probe.kind : undefined;
      if (probe) this.probe = undefined;
      const wait = await this.opts.share.failed(this.timing(), probe).catch(() => 1);
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

  /** How long a job whose call failed while open is set aside: until the next slot could be, with the same spread. */
  waitAfterFailure(): number {
    return this.opts.probeMs + this.spread();
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

  private spread(): number {
    return Math.round(this.random() * SLOT_SPREAD * this.opts.probeMs);
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
    this.probe = undefined;
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
