import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotHistogram, PendingCounts } from '../../src/observability/hot-metrics.js';

const BOUNDS = [0.005, 0.01, 0.1, 1, 10];

describe('hot-path metrics', () => {
  it('a HotHistogram exposes exactly what prom-client\'s Histogram would for the same observations (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.double({ min: 0, max: 20, noNaN: true })), { maxLength: 60 }), async (observations) => {
        const ours = new Registry();
        const theirs = new Registry();
        const hot = new HotHistogram('x_seconds', 'help', BOUNDS, ours);
        const reference = new Histogram({ name: 'x_seconds', help: 'help', labelNames: ['code'], buckets: BOUNDS, registers: [theirs] });
        // Both list a series from its first mention: ours at series(), prom-client's at zero().
        const series = { a: hot.series({ code: 'a' }), b: hot.series({ code: 'b' }) };
        reference.zero({ code: 'a' });
        reference.zero({ code: 'b' });
        for (const [code, value] of observations) {
          series[code].observe(value);
          reference.observe({ code }, value);
        }
        expect(await ours.metrics()).toBe(await theirs.metrics());
      }),
      { numRuns: 100 },
    );
  });

  it('PendingCounts reach the Counter when it is collected, and only once', async () => {
    const registry = new Registry();
    const pending = new PendingCounts();
    const counter = new Counter({
      name: 'y_total',
      help: 'help',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        pending.flushInto(this);
      },
    });
    const done = pending.slot({ state: 'done' });
    for (let i = 0; i < 5; i++) done.inc();
    expect(await registry.metrics()).toContain('y_total{state="done"} 5');
    done.inc();
    expect((await counter.get()).values).toEqual([{ labels: { state: 'done' }, value: 6 }]);
    expect(await registry.metrics()).toContain('y_total{state="done"} 6');
  });
});
