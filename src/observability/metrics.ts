import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { PROVIDERS } from '../domain/provider.js';
import { OUTCOME_CLASSES } from '../domain/outcome.js';
import { HotHistogram, PendingCounts } from './hot-metrics.js';

/** CONTRACT §6: every metric is defined here once, on a registry of its own (never prom-client's global one). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Written per job or request: counted here as plain numbers, handed to the Counters when they are collected.
  const pending = { enqueued: new PendingCounts(), attempts: new PendingCounts(), finished: new PendingCounts() };

  const metrics = {
    registry,
    enqueued: new Counter({
      name: 'fiscal_enqueued_total',
      help: 'Confirmations handed to the product, by what enqueue made of them',
      labelNames: ['provider', 'result'] as const,
      registers: [registry],
      collect() {
        pending.enqueued.flushInto(this);
      },
    }),
    attempts: new Counter({
      name: 'fiscal_attempts_total',
      help: 'Provider calls by outcome class (CONTRACT §4)',
      labelNames: ['provider', 'class'] as const,
      registers: [registry],
      collect() {
        pending.attempts.flushInto(this);
      },
    }),
    finished: new Counter({
      name: 'fiscal_jobs_finished_total',
      help: 'Jobs that reached a terminal state',
      labelNames: ['provider', 'state'] as const,
      registers: [registry],
      collect() {
        pending.finished.flushInto(this);
      },
    }),
    pending,
    providerDuration: new HotHistogram(
      'fiscal_provider_request_duration_seconds',
      'One provider call, connect to last byte',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
      registry,
    ),
    jobDuration: new HotHistogram(
      'fiscal_job_duration_seconds',
      'From acceptance to succeeded/dead',
      [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400],
      registry,
    ),
    queueJobs: new Gauge({
      name: 'fiscal_queue_jobs',
      help: 'Jobs per queue state, read from Redis at scrape time (serve/api only)',
      labelNames: ['provider', 'state'] as const,
      registers: [],
    }),
    oldestWaiting: new Gauge({
      name: 'fiscal_queue_oldest_waiting_seconds',
      help: 'Age of the oldest waiting job, read at scrape time (serve/api only)',
      labelNames: ['provider'] as const,
      registers: [],
    }),
    circuitOpen: new Gauge({
      name: 'fiscal_provider_circuit_open',
      help: '1 while calls to the provider are paused after repeated failures',
      labelNames: ['provider'] as const,
      registers: [registry],
    }),
    callbacks: new Counter({
      name: 'fiscal_callbacks_total',
      help: 'Result callback delivery attempts: delivered = answered 2xx (once per callback), failed = any other end of an attempt (each retry counts)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    callbackQueueJobs: new Gauge({
      name: 'fiscal_callback_queue_jobs',
      help: 'Result callbacks per queue state (dead = dead-lettered callbacks), read from Redis at scrape time (serve/api only)',
      labelNames: ['state'] as const,
      registers: [],
    }),
    redisUp: new Gauge({
      name: 'fiscal_redis_up',
      help: '1 when the last readiness check or metrics scrape reached Redis (serve/api only)',
      registers: [],
    }),
  };

  // Zero series for every bounded label value, so rate() and absent() work before the first event.
  for (const provider of PROVIDERS) {
    for (const cls of OUTCOME_CLASSES) metrics.attempts.inc({ provider, class: cls }, 0);
    for (const state of ['succeeded', 'dead']) metrics.finished.inc({ provider, state }, 0);
    for (const result of ['created', 'duplicate', 'conflict', 'invalid']) metrics.enqueued.inc({ provider, result }, 0);
    for (const state of ['succeeded', 'dead']) metrics.jobDuration.zero({ provider, state });
    metrics.circuitOpen.set({ provider }, 0);
  }
  for (const result of ['delivered', 'failed']) metrics.callbacks.inc({ result }, 0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A provider's per-job metrics with their label sets resolved once (hot-metrics.ts): a write is an addition. Slots are
 * made on first use per label value.
 */
export class ProviderMetrics {
  private readonly attemptsByClass = new Map<string, { inc(): void }>();
  private readonly durationByCode = new Map<string, { observe(value: number): void }>();
  private readonly finishedByState = new Map<string, { inc(): void }>();
  private readonly jobDurationByState = new Map<string, { observe(value: number): void }>();

  constructor(
    private readonly metrics: Metrics,
    readonly provider: string,
  ) {}

  attempt(outcomeClass: string): void {
    child(this.attemptsByClass, outcomeClass, () => this.metrics.pending.attempts.slot({ provider: this.provider, class: outcomeClass })).inc();
  }

  providerCall(code: string, seconds: number): void {
    child(this.durationByCode, code, () => this.metrics.providerDuration.series({ provider: this.provider, code })).observe(seconds);
  }

  finished(state: 'succeeded' | 'dead', seconds: number): void {
    child(this.finishedByState, state, () => this.metrics.pending.finished.slot({ provider: this.provider, state })).inc();
    child(this.jobDurationByState, state, () => this.metrics.jobDuration.series({ provider: this.provider, state })).observe(seconds);
  }
}

function child<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let found = cache.get(key);
  if (!found) cache.set(key, (found = make()));
  return found;
}

/** Counts one enqueue outcome (API, bulk CLI, the charge → confirm chain): a slot per provider and result. */
export function countEnqueued(metrics: Metrics, provider: string, result: string): void {
  let byResult = enqueuedSlots.get(metrics);
  if (!byResult) enqueuedSlots.set(metrics, (byResult = new Map()));
  child(byResult, `${provider}\u0000${result}`, () => metrics.pending.enqueued.slot({ provider, result })).inc();
}

const enqueuedSlots = new WeakMap<Metrics, Map<string, { inc(): void }>>();
