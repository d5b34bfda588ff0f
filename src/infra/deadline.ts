/** CONTRACT §3: a request that would store something answers 503 within 5 s; the rest is left for the answer. */
export const STORE_DEADLINE_MS = 4500;

/**
 * One deadline for the Redis round trips of one request: `within(work)` rejects once the deadline passed (by default
 * STORE_DEADLINE_MS from now) or the request ended, and `work` has not settled. commandTimeout bounds one command on one
 * connection, but a request makes several round trips, and an ioredis Cluster parks commands with no timeout at all
 * while none of its nodes answers. The HTTP layer makes one per request (http/deadline.ts): the deadline counts from
 * arrival, whatever steps the request takes, and a request that ended stops its work. A command cut off here may still
 * run later; the intake is idempotent, so a repeat of the request finds what it stored.
 *
 * Nothing is made until asked for: a timer only while something waits (cleared when it settles), an AbortSignal only
 * when a read wants one. Measured under load (issue 18), a shared sweep over a set of deadlines cost more than a timer
 * each: whatever a deadline in that set reached survived young-generation collections and was promoted, doubling the
 * full collections of the API process.
 */
export class StoreDeadline {
  private readonly at: number;
  private readonly waiting = new Set<(reason: Error) => void>();
  private timer: NodeJS.Timeout | undefined;
  private controller: AbortController | undefined;
  private ended: Error | undefined;

  /**
   * `watchEnd` is called when the signal is first asked for, to end the deadline when the request ends early (the HTTP
   * layer listens for a hang-up then): work waited on with `within` alone is bounded by the deadline already.
   */
  constructor(
    private readonly ms = STORE_DEADLINE_MS,
    private readonly watchEnd?: (deadline: StoreDeadline) => void,
  ) {
    this.at = performance.now() + ms;
  }

  readonly within = <T>(work: Promise<T>): Promise<T> => {
    if (this.ended) {
      work.catch(() => undefined);
      return Promise.reject(this.ended);
    }
    return new Promise<T>((resolve, reject) => {
      this.waiting.add(reject);
      this.arm();
      work.then(resolve, reject).finally(() => {
        this.waiting.delete(reject);
        if (this.waiting.size === 0 && !this.controller) this.disarm();
      });
    });
  };

  /** Aborts at the deadline or when the request ended: no more reads are started. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort(this.ended);
      else this.arm();
      this.watchEnd?.(this);
    }
    return this.controller.signal;
  }

  /** The request ended before its answer (the client hung up), or the deadline passed. */
  end(reason: Error): void {
    if (this.ended) return;
    this.ended = reason;
    this.disarm();
    this.controller?.abort(reason);
    for (const reject of this.waiting) reject(reason);
    this.waiting.clear();
  }

  /** The request was answered: nothing waits on this deadline any more. */
  release(): void {
    this.disarm();
  }

  private arm(): void {
    this.timer ??= setTimeout(() => this.end(new Error(`Redis did not answer within ${this.ms} ms of the request's arrival`)), Math.max(0, this.at - performance.now()));
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A deadline's `within` for work outside a request (a CLI batch, the charge → confirm chain). */
export function storeDeadline(ms = STORE_DEADLINE_MS): <T>(work: Promise<T>) => Promise<T> {
  return new StoreDeadline(ms).within;
}
