import type { Endpoint, SandboxCall } from './types.js';

/** Every request, in arrival order, recorded before any fault is applied so tests can count provider calls. */
export class CallLog {
  #calls: SandboxCall[] = [];

  /** `max`: keep at most this many (oldest dropped in batches); benchmarks set it to keep memory flat. */
  constructor(private readonly max = Number.POSITIVE_INFINITY) {}

  record(endpoint: Endpoint, key: string, body: unknown): SandboxCall {
    const call: SandboxCall = { endpoint, key, body, at: Date.now(), answered: '' };
    this.#calls.push(call);
    // Trim to three quarters at once, so the cost of splice is paid once per max/4 calls.
    if (this.#calls.length > this.max) this.#calls.splice(0, this.#calls.length - Math.floor(this.max * 0.75));
    return call;
  }

  list(endpoint?: Endpoint): SandboxCall[] {
    return endpoint === undefined ? [...this.#calls] : this.#calls.filter((c) => c.endpoint === endpoint);
  }

  reset(): void {
    this.#calls = [];
  }
}
