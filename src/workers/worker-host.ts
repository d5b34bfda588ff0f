import { DelayedError, UnrecoverableError, Worker, type Job, type Processor } from 'bullmq';
import type { Config } from '../config/env.js';
import { attemptsInRun, decodeAttempts } from '../domain/attempt.js';
import type { Provider } from '../domain/provider.js';
import { toStoredResult, type JobResult } from '../domain/record.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { RedisClient } from '../infra/redis.js';
import type { Logger } from '../observability/logger.js';
import { ProviderMetrics, type Metrics } from '../observability/metrics.js';
import { isMoneyProvider, providerSpec } from '../providers/index.js';
import { DEAD_LETTER_INDEX_SECONDS, keepInIndex, referenceIndexKey, successOutlivesIndex } from '../records/indexes.js';
import { recordTombstone, tombstoneKey, tombstoneSeconds } from '../records/tombstones.js';
import type { AttemptContext } from './attempt-runner.js';
import { fiscalBackoffStrategy } from './backoff.js';
import { Circuit } from './circuit.js';
import { RedisCircuitShare } from './circuit-share.js';
import { DeadLetter } from './failures.js';
import type { ProcessorDeps } from './processor.js';
import { processorFor } from './processors.js';
import { RetentionSweeper } from './retention-sweeper.js';
import { applyRunPolicy, retentionOptions } from './run-policy.js';
import { TransportPool } from './transport-pool.js';

export interface WorkerHostDeps {
  config: Readonly<Config>;
  /** The workers' connection (BullMQ duplicates it for its blocking reads). */
  connection: RedisClient;
  /** Where each provider's queues live (the queues themselves are the API's; only the layout is shared). */
  queues: ProviderQueues;
  logger: Logger;
  metrics: Metrics;
  /** What processors use beyond their provider (the confirmation intake for the charge → confirm chain). */
  processors: ProcessorDeps;
}

/** Called once a job is succeeded or dead (after BullMQ stored it): metrics, the final log line, callbacks. */
export type TerminalListener = (provider: Provider, job: Job, state: 'succeeded' | 'dead') => void;

/**
 * Called when the processor has decided a job's end, just before BullMQ stores it; awaited, so what it writes is in
 * Redis before the end is (the callbacks' crash-safe scheduling). It must not throw.
 */
export type BeforeTerminalListener = (provider: Provider, job: Job, state: 'succeeded' | 'dead') => Promise<void>;

/**
 * Locks and crash recovery (issue 8). A running job holds a lock that its worker renews every lockDuration / 2. When
 * the process dies (SIGKILL, OOM, lost node) the lock expires at most lockDuration later, and the next stalled check
 * of any worker (every stalledInterval) puts the job back in wait: a crashed job runs again after at most
 * lockDuration + stalledInterval (measured: docs/RELIABILITY.md).
 *
 * A shorter lock recovers faster but risks handing a live job to a second worker (a second provider call) when
 * renewals stop for a while without a crash: a Redis restart or failover, a long GC pause. So the lock lasts two
 * PROVIDER_TIMEOUT_MS (a call in flight when renewals stop has ended, answered or timed out, before the lock can
 * expire), and never less than 10 s, which covers a Redis restart when the timeout is short. With the default timeout
 * (15 s) this is BullMQ's own 30 s lock. A stalled check is one small script per queue; running it twice per lock
 * period keeps recovery within 1.5 × lockDuration.
 */
export function stalledJobTiming(config: Pick<Config, 'providerTimeoutMs'>): { lockDuration: number; stalledInterval: number } {
  const lockDuration = Math.max(10_000, 2 * config.providerTimeoutMs);
  return { lockDuration, stalledInterval: Math.round(lockDuration / 2) };
}

/** A limiter no worker reaches (a billion fetches a second): present only so the circuit's pause is honoured. */
const NO_RATE_LIMIT = { max: 1_000_000_000, duration: 1000 };

/**
 * BullMQ's fetch honours the circuit's pause (worker.rateLimit) only when a limiter is set, so there always is one;
 * without RATE_LIMIT_<P> it is one no worker ever reaches. A sharded provider's limit is split over its shards (each a
 * queue with a limiter of its own), so their sum stays within RATE_LIMIT_<P>.
 */
function limiterFor(callsPerSecond: number | undefined, shards: number): { max: number; duration: number } {
  if (!callsPerSecond) return NO_RATE_LIMIT;
  const perShard = callsPerSecond / shards;
  const max = Math.max(1, Math.round(perShard));
  return { max, duration: Math.round((1000 * max) / perShard) };
}

/** Runs one BullMQ worker per provider, so one provider's outage never blocks another's jobs. */
export class WorkerHost {
  private readonly workers: Worker[] = [];
  private readonly circuits = new Map<Provider, Circuit>();
  private readonly providerMetrics = new Map<Provider, ProviderMetrics>();
  readonly transports: TransportPool;
  private readonly listeners: TerminalListener[] = [];
  private readonly beforeListeners: BeforeTerminalListener[] = [];
  private sweeper: RetentionSweeper | undefined;

  constructor(private readonly deps: WorkerHostDeps) {
    this.transports = new TransportPool(deps.config);
  }

  onTerminal(listener: TerminalListener): void {
    this.listeners.push(listener);
  }

  /** Register before start(). */
  beforeTerminal(listener: BeforeTerminalListener): void {
    this.beforeListeners.push(listener);
  }

  /**
   * One BullMQ worker per provider queue (per shard of a sharded provider), each with the processor its registry row
   * names. A provider's shards share its circuit, its concurrency and its rate limit (each shard takes its share).
   */
  start(providers: readonly Provider[]): void {
    const { config, logger, metrics, queues } = this.deps;
    for (const provider of providers) {
      const refs = queues.layout.queues(provider);
      const workers: Worker[] = [];
      const circuit = new Circuit({
        threshold: config.circuit.threshold,
        probeMs: config.circuit.probeMs,
        maxProbeMs: config.retry.maxMs,
        callTimeoutMs: config.providerTimeoutMs,
        share: new RedisCircuitShare(
          this.deps.connection,
          refs[0]!.prefix,
          provider,
          refs.map((ref) => `${ref.prefix}:${ref.name}:limiter`),
        ),
        onChange: (open) => {
          metrics.circuitOpen.set({ provider }, open ? 1 : 0);
          logger[open ? 'warn' : 'info']({ provider }, open ? 'provider circuit opened' : 'provider circuit closed');
        },
      });
      this.circuits.set(provider, circuit);
      const providerMetrics = new ProviderMetrics(metrics, provider);
      this.providerMetrics.set(provider, providerMetrics);
      const ctx: AttemptContext = {
        provider,
        config,
        metrics,
        providerMetrics,
        logger,
        circuit,
        pause: async (ms) => {
          await Promise.all(workers.map((worker) => worker.rateLimit(ms)));
        },
      };
      const process = this.announcingEnds(provider, processorFor({ spec: providerSpec(provider), ctx, transports: this.transports, deps: this.deps.processors }));
      const processor: Processor = async (job, token) => {
        applyRunPolicy(job);
        return toStoredResult(await process(job, token));
      };
      for (const ref of refs) {
        const worker = new Worker(ref.name, processor, {
          connection: this.deps.connection,
          prefix: ref.prefix,
          concurrency: Math.max(1, Math.ceil(config.workerConcurrency / refs.length)),
          limiter: limiterFor(config.rateLimits[provider], refs.length),
          settings: { backoffStrategy: fiscalBackoffStrategy(config.retry) },
          ...retentionOptions(config),
          ...stalledJobTiming(config),
          // A job whose worker died is picked up again (at-least-once); only a job that kills its worker repeatedly
          // ends as a dead letter.
          maxStalledCount: 5,
        });
        worker.on('completed', (job) => this.finish(provider, job, 'succeeded'));
        worker.on('failed', (job, err) => {
          if (job && (err instanceof DeadLetter || job.finishedOn)) this.finish(provider, job, 'dead');
        });
        worker.on('error', (err) => logger.error({ provider, err }, 'worker error'));
        workers.push(worker);
        this.workers.push(worker);
      }
    }
    this.sweeper = new RetentionSweeper(queues.all(providers), config.retentionSeconds * 1000, logger);
    this.sweeper.start();
  }

  /** Runs the beforeTerminal listeners once the processor has returned or thrown a job's end. */
  private announcingEnds(provider: Provider, processor: Processor): Processor {
    if (this.beforeListeners.length === 0) return processor;
    const announce = async (job: Job, state: 'succeeded' | 'dead') => {
      for (const listener of this.beforeListeners) await listener(provider, job, state);
    };
    return async (job, token, signal) => {
      let result: unknown;
      try {
        result = await processor(job, token, signal);
      } catch (err) {
        if (endsJob(job, err)) await announce(job, 'dead');
        throw err;
      }
      await announce(job, 'succeeded');
      return result;
    };
  }

  private finish(provider: Provider, job: Job, state: 'succeeded' | 'dead'): void {
    const { logger } = this.deps;
    this.providerMetrics.get(provider)?.finished(state, Math.max(0, Date.now() - job.timestamp) / 1000);
    // Successes are counted by metrics and kept on the record; at thousands a second an info line each would be the
    // hot path's biggest cost, so they log at debug. Every dead letter logs a warning.
    if (state === 'dead') logger.warn(this.finishFields(provider, job, state), 'job dead-lettered');
    else if (logger.isLevelEnabled('debug')) logger.debug(this.finishFields(provider, job, state), 'job succeeded');
    this.keepWhatOutlivesTheJob(provider, job, state);
    for (const listener of this.listeners) listener(provider, job, state);
  }

  /**
   * A money record's tombstone takes its final state (so a repeat after the job is gone answers it, issue 15), and a
   * dead letter's reference index lives as long as the dead letter, a slow success's as long as its record (issue 19).
   * All off the confirmation hot path: one write per money job, per dead letter and per slow success with a reference.
   * A lost write leaves the tombstone `queued` (a repeat is still never charged) or the index on its retention (the
   * dead letter is still listed by /v1/dead-letters).
   */
  private keepWhatOutlivesTheJob(provider: Provider, job: Job, state: 'succeeded' | 'dead'): void {
    const { config, connection, queues, logger } = this.deps;
    const money = isMoneyProvider(provider);
    const reference = (job.data as { reference?: unknown }).reference;
    const indexSeconds = typeof reference === 'string' ? this.indexLifeAfterEnd(job, state) : undefined;
    // Most jobs (a confirmation that succeeded in time) have nothing to keep: no lookup, no allocation for them.
    if (!money && indexSeconds === undefined) return;
    const ref = queues.layout.queueOfRecord(job.id!);
    if (!ref) return;
    const failed = (err: unknown) => logger.warn({ job_id: job.id, provider, err: { message: err instanceof Error ? err.message : String(err) } }, 'could not keep what outlives the job');
    if (money) void recordTombstone(connection, tombstoneKey(queues.layout, ref, job.id!), job, state, tombstoneSeconds(config)).catch(failed);
    if (typeof reference === 'string' && indexSeconds !== undefined) {
      void keepInIndex(connection, referenceIndexKey(queues.layout, ref, reference), { recordId: job.id!, acceptedAt: job.timestamp }, indexSeconds).catch(failed);
    }
  }

  /** How long a record's reference index must live from its end, or undefined when the life it has suffices. */
  private indexLifeAfterEnd(job: Job, state: 'succeeded' | 'dead'): number | undefined {
    if (state === 'dead') return DEAD_LETTER_INDEX_SECONDS;
    const { retentionSeconds } = this.deps.config;
    return successOutlivesIndex(job.timestamp, Date.now(), retentionSeconds) ? retentionSeconds : undefined;
  }

  private finishFields(provider: Provider, job: Job, state: 'succeeded' | 'dead') {
    // A dead job's last entry is the terminal call itself; a succeeded job's call is in its returnvalue.
    const failed = decodeAttempts(job.stacktrace);
    const attempt = attemptsInRun(state === 'dead' ? failed.slice(0, -1) : failed) + 1;
    return { job_id: job.id, provider, attempt, state, ...(state === 'dead' ? { reason: job.failedReason } : {}) };
  }

  /** Stops fetching, waits for active jobs up to `timeoutMs`; unfinished ones are recovered as stalled later. */
  async close(timeoutMs: number): Promise<void> {
    for (const circuit of this.circuits.values()) circuit.stop();
    this.sweeper?.close();
    const graceful = Promise.allSettled(this.workers.map((w) => w.close()));
    const timedOut = await Promise.race([
      graceful.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), timeoutMs).unref()),
    ]);
    if (timedOut) {
      // CONTRACT §1: stop within SHUTDOWN_TIMEOUT_MS. BullMQ's close(true) returns the graceful close already under way,
      // so it cannot cut it short, and closing the HTTP pools would wait for the calls in flight: stop waiting instead.
      // The jobs still active keep their locks until they expire and then run again (stalledJobTiming).
      this.deps.logger.warn({ timeout_ms: timeoutMs }, 'shutdown timeout: active jobs left to stalled-job recovery');
      void this.transports.close().catch(() => undefined);
      return;
    }
    await this.transports.close();
  }

  /** Providers whose circuit is open in this process (CONTRACT §4), for /readyz. */
  openCircuits(): string[] {
    return [...this.circuits].filter(([, circuit]) => circuit.isOpen).map(([provider]) => provider);
  }

  isRunning(): boolean {
    return this.workers.some((w) => w.isRunning());
  }
}

export type { JobResult };

/** Whether BullMQ will fail `job` for good with `err`: a dead letter, or a retry beyond BullMQ's attempts ceiling. */
function endsJob(job: Job, err: unknown): boolean {
  if (err instanceof DelayedError || (err instanceof Error && err.name === 'DelayedError')) return false;
  if (err instanceof UnrecoverableError) return true;
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}
