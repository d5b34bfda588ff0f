import type { Provider } from '../config/env.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { Metrics } from './metrics.js';

/**
 * `fiscal_queue_jobs` and `fiscal_queue_oldest_waiting_seconds` are read from Redis when Prometheus scrapes, and only
 * API processes register them, so N worker replicas do not export N copies of the same depth (CONTRACT §6).
 */
export function registerQueueGauges(metrics: Metrics, queues: ProviderQueues, providers: readonly Provider[]): void {
  const { queueJobs, oldestWaiting, redisUp, registry } = metrics;
  const read = async () => {
    const now = Date.now();
    await Promise.all(
      providers.map(async (provider) => {
        const queue = queues.get(provider);
        const [counts, oldest] = await Promise.all([
          queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'),
          queue.getWaiting(0, 0),
        ]);
        queueJobs.set({ provider, state: 'waiting' }, (counts.waiting ?? 0) + (counts.prioritized ?? 0));
        queueJobs.set({ provider, state: 'active' }, counts.active ?? 0);
        queueJobs.set({ provider, state: 'delayed' }, counts.delayed ?? 0);
        queueJobs.set({ provider, state: 'dead' }, counts.failed ?? 0);
        const first = oldest[0];
        oldestWaiting.set({ provider }, first ? Math.max(0, (now - first.timestamp) / 1000) : 0);
      }),
    );
  };
  // prom-client awaits `collect` before serialising; a Redis outage leaves the last values and is reported by /readyz.
  let pending: Promise<void> | undefined;
  const collect = async () => {
    pending ??= read()
      .catch(() => undefined)
      .finally(() => {
        pending = undefined;
      });
    await pending;
  };
  Object.assign(queueJobs, { collect });
  registry.registerMetric(queueJobs);
  registry.registerMetric(oldestWaiting);
  registry.registerMetric(redisUp);
}
