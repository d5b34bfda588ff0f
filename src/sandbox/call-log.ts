import { DEFAULT_MAX_CALLS } from './limits.js';
import type { Endpoint, SandboxCall } from './types.js';

/**
 * Every request, in arrival order, recorded before any fault is applied so tests can count provider calls. A ring of
 * the newest `max` calls: recording is O(1) and memory stays flat however long the sandbox runs (limits.ts).
 */
export class CallLog {
  #ring: SandboxCall[] = [];
  /** Where the next call goes once the ring is full: the oldest one's slot. */
  #oldest = 0;
  #total = 0;

  /** `max`: calls kept (the oldest dropped first); `Infinity` keeps every call. */
  constructor(readonly max = DEFAULT_MAX_CALLS) {
    if (!(max >= 1)) throw new RangeError(`maxCalls must be at least 1, got ${max}`);
  }

  record(endpoint: Endpoint, key: string, body: unknown): SandboxCall {
    const call: SandboxCall = { endpoint, key, body, at: Date.now(), answered: '' };
    this.#total += 1;
    if (this.#ring.length < this.max) {
      this.#ring.push(call);
    } else {
      this.#ring[this.#oldest] = call;
      this.#oldest = (this.#oldest + 1) % this.#ring.length;
    }
    return call;
  }

  /** The calls kept, oldest first. */
  list(endpoint?: Endpoint): SandboxCall[] {
    const ordered = this.#oldest === 0 ? [...this.#ring] : [...this.#ring.slice(this.#oldest), ...this.#ring.slice(0, this.#oldest)];
    return endpoint === undefined ? ordered : ordered.filter((c) => c.endpoint === endpoint);
  }

  /** Calls recorded since the start or the last reset, the dropped ones included. */
  get total(): number {
    return this.#total;
  }

  reset(): void {
    this.#ring = [];
    this.#oldest = 0;
    this.#total = 0;
  }
}
