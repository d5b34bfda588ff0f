import type { Queue } from 'bullmq';
import type { Provider } from '../domain/provider.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { Metrics } from './metrics.js';

/** Same bound as the /readyz ping: a scrape must answer before Prometheus's scrape_timeout (4 s in deploy/). */
const SCRAPE_READ_TIMEOUT_MS = 2000;

/**
 * `fiscal_queue_jobs` and `fiscal_queue_oldest_waiting_seconds` are read from Redis when Prometheus scrapes, and only
 * API processes register them, so N worker replicas do not export N copies of the same depth (CONTRACT §6).
 * `fiscal_redis_up` rides on the same read, so it is fresh at every scrape and not only when /readyz runs.
 */
export function registerQueueGauges(metrics: Metrics, queues: ProviderQueues, providers: readonly Provider[], callbackQueue?: Queue): void {
  const { queueJobs, oldestWaiting, redisUp, callbackQueueJobs, registry } = metrics;
  const read = async () => {
    const now = Date.now();
    await Promise.all([
      // Callbacks have a gauge of their own: `provider` keeps its CONTRACT §6 values, and the provider alerts stay theirs.
      callbackQueue?.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed').then((counts) => {
        callbackQueueJobs.set({ state: 'waiting' }, (counts.waiting ?? 0) + (counts.prioritized ?? 0));
        callbackQueueJobs.set({ state: 'active' }, counts.active ?? 0);
        callbackQueueJobs.set({ state: 'delayed' }, counts.delayed ?? 0);
        callbackQueueJobs.set({ state: 'dead' }, counts.failed ?? 0);
      }),
      // A sharded provider is one provider here: its shards' counts add up, its oldest job is the oldest of them.
      ...providers.map(async (provider) => {
        const shards = await Promise.all(
          queues.of(provider).map((queue) => Promise.all([queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'), queue.getWaiting(0, 0)])),
        );
        const sum = (state: string) => shards.reduce((total, [counts]) => total + (counts[state] ?? 0), 0);
        queueJobs.set({ provider, state: 'waiting' }, sum('waiting') + sum('prioritized'));
        queueJobs.set({ provider, state: 'active' }, sum('active'));
        queueJobs.set({ provider, state: 'delayed' }, sum('delayed'));
        queueJobs.set({ provider, state: 'dead' }, sum('failed'));
        const oldest = Math.min(...shards.map(([, waiting]) => waiting[0]?.timestamp ?? Number.POSITIVE_INFINITY));
        oldestWaiting.set({ provider }, Number.isFinite(oldest) ? Math.max(0, (now - oldest) / 1000) : 0);
      }),
    ]);
  };
  // prom-client awaits each metric's `collect` before serialising it, all metrics at once: the three gauges share one
  // read per scrape, so none of them shows the previous scrape's values. The read reaches Redis, so it also refreshes
  // fiscal_redis_up (not only /readyz): a Redis outage keeps the last queue values and reports 0 within the bound,
  // below Prometheus's scrape_timeout.
  let pending: Promise<void> | undefined;
  const collect = async () => {
    pending ??= withTimeout(read(), SCRAPE_READ_TIMEOUT_MS)
      .then(
        () => redisUp.set(1),
        () => redisUp.set(0),
      )
      .finally(() => {
        pending = undefined;
      });
    await pending;
  };
  for (const gauge of [queueJobs, oldestWaiting, redisUp, callbackQueueJobs]) Object.assign(gauge, { collect });
  registry.registerMetric(queueJobs);
  if (callbackQueue) registry.registerMetric(callbackQueueJobs);
  registry.registerMetric(oldestWaiting);
  registry.registerMetric(redisUp);
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  work.catch(() => undefined); // a late rejection after the timeout won must not be unhandled
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
