import type { Counter, MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client';

/**
 * Metrics written once or twice per job or request. prom-client validates and hashes the labels object on every
 * `inc`/`observe`, even through a child from `labels()`; on the worker's hot path that was several µs a job (issue 18
 * profiles). Here a label set is resolved once to a plain slot, and a write is an addition.
 */

type Labels = Record<string, string>;

/**
 * Counts kept as plain numbers per label set and handed to a prom-client Counter when it collects (at a scrape), so
 * the Counter stays the one the registry, the zero series and `get()` know.
 */
export class PendingCounts {
  private readonly slots = new Map<string, { labels: Labels; n: number }>();

  /** The slot of a label set: `inc()` it as often as needed. */
  slot(labels: Labels): { inc(): void } {
    const key = JSON.stringify(labels);
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = { labels, n: 0 }));
    const target = slot;
    return {
      inc: () => {
        target.n += 1;
      },
    };
  }

  /** prom-client's `collect` hook of the Counter: moves what was counted since the last scrape into it. */
  flushInto(counter: Counter<string>): void {
    for (const slot of this.slots.values()) {
      if (slot.n === 0) continue;
      counter.inc(slot.labels, slot.n);
      slot.n = 0;
    }
  }
}

interface Series {
  labels: Labels;
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * A histogram with prom-client's exposition (`_bucket` with `le`, `_sum`, `_count`), registered on a prom-client
 * Registry as any metric is (it asks only `get()` and `reset()`): `series(labels)` once, then `observe(value)` is a
 * bucket search and three additions.
 */
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  series(labels: Labels): { observe(value: number): void } {
    const key = JSON.stringify(labels);
    let series = this.all.get(key);
    if (!series) this.all.set(key, (series = { labels, buckets: new Array<number>(this.upperBounds.length).fill(0), sum: 0, count: 0 }));
    const target = series;
    const bounds = this.upperBounds;
    return {
      observe: (value: number) => {
        if (!Number.isFinite(value)) return;
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]!) {
            target.buckets[i]! += 1;
            break;
          }
        }
        target.sum += value;
        target.count += 1;
      },
    };
  }

  /** A series with no observation yet, so rate() and absent() work before the first event. */
  zero(labels: Labels): void {
    this.series(labels);
  }

  get(): MetricObjectWithValues<MetricValueWithName<string>> {
    const values: MetricValueWithName<string>[] = [];
    for (const { labels, buckets, sum, count } of this.all.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((bound, i) => {
        cumulative += buckets[i]!;
        values.push({ labels: { le: bound, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type as never, values, aggregator: this.aggregator } as unknown as MetricObjectWithValues<MetricValueWithName<string>>;
  }

  reset(): void {
    for (const series of this.all.values()) {
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
