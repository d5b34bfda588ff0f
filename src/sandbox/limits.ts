/**
 * The sandbox keeps what it saw in memory, and `docker compose --profile demo` feeds it confirmations for as long as it
 * runs (issue 19): every store is capped, the oldest entries going first. The defaults are far above what a test
 * looks back on and keep a long-running sandbox at a few MiB.
 */
export const DEFAULT_MAX_CALLS = 10_000;
/** Per store: FiscalBox confirmations (per endpoint), fault counters, Freedom Pay receipts. */
export const DEFAULT_MAX_RECORDS = 10_000;

/** A Map holding at most `max` keys; adding one more forgets the least recently written. */
export class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`max must be at least 1, got ${max}`);
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  /** Writing a key makes it the newest: Map keeps insertion order, so delete first. */
  set(key: K, value: V): this {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value as K);
    return this;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}
