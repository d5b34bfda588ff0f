import type { LookupFunction } from 'node:net';
import { Worker } from 'bullmq';
import type { Agent } from 'undici';
import type { Config } from '../config/env.js';
import type { RedisClient } from '../infra/redis.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { stalledJobTiming } from '../workers/worker-host.js';
import { callbackBackoffStrategy } from './attempts.js';
import type { RecordReader } from './capture.js';
import { callbackProcessor } from './delivery.js';
import { CALLBACK_QUEUE, type CallbackJobData } from './events.js';
import { CallbackPolicy } from './policy.js';
import { createSafeDispatcher } from './safe-dispatcher.js';
import { CallbackScheduler } from './scheduler.js';

/** Test seams of the callback transport: made-up names resolved without DNS, a local https receiver's CA. */
export interface CallbackTransportOptions {
  lookup?: LookupFunction;
  ca?: string | Buffer;
}

export interface CallbacksDeps {
  config: Readonly<Config>;
  /** The workers' connection (BullMQ's blocking fetch needs maxRetriesPerRequest: null). */
  connection: RedisClient;
  /** The callbacks queue's BullMQ prefix (Layout.auxiliaryPrefix: its own slot on a Redis Cluster). */
  prefix: string;
  logger: Logger;
  metrics: Metrics;
  read: RecordReader;
  transport?: CallbackTransportOptions;
  /** Default: the lock duration, the time a crashed provider job also takes to be picked up again. */
  graceMs?: number;
}

/**
 * Result callbacks in a worker process (issue 17): the scheduler that puts each record's end in the `callbacks` queue
 * and the BullMQ worker that delivers them, with its own dispatcher, concurrency and retries, so a slow or failing
 * receiver never holds provider work.
 */
export class Callbacks {
  readonly scheduler: CallbackScheduler;
  private worker: Worker<CallbackJobData> | undefined;
  private readonly dispatcher: Agent;
  private readonly processor: ReturnType<typeof callbackProcessor>;
  private drained = true;

  constructor(private readonly deps: CallbacksDeps) {
    const { config } = deps;
    const timing = stalledJobTiming(config);
    const policy = new CallbackPolicy(config.callback);
    this.dispatcher = createSafeDispatcher({
      timeoutMs: config.providerTimeoutMs,
      connections: config.workerConcurrency,
      addressRule: (protocol, hostname) => policy.addressRule(protocol, hostname),
      ...deps.transport,
    });
    const graceMs = deps.graceMs ?? timing.lockDuration;
    this.scheduler = new CallbackScheduler({ config, connection: deps.connection, prefix: deps.prefix, logger: deps.logger, graceMs });
    this.processor = callbackProcessor({
      config,
      logger: deps.logger,
      metrics: deps.metrics,
      read: deps.read,
      dispatcher: this.dispatcher,
      policy,
      pendingRecheckMs: graceMs,
    });
  }

  start(): void {
    const { config, logger } = this.deps;
    this.worker = new Worker<CallbackJobData>(CALLBACK_QUEUE, this.processor, {
      connection: this.deps.connection,
      prefix: this.deps.prefix,
      concurrency: config.workerConcurrency,
      settings: { backoffStrategy: callbackBackoffStrategy(config.retry) },
      // A delivery is one request bounded by PROVIDER_TIMEOUT_MS, like a provider call: the same lock reasoning applies.
      ...stalledJobTiming(config),
      maxStalledCount: 5,
    });
    this.worker.on('error', (err) => logger.error({ queue: CALLBACK_QUEUE, err }, 'worker error'));
  }

  /** Stops fetching and lets deliveries in flight end within `timeoutMs`; the rest recover later as stalled jobs. */
  async stop(timeoutMs: number): Promise<void> {
    const stopped = this.worker ? this.worker.close().then(() => true) : Promise.resolve(true);
    this.drained = await Promise.race([stopped, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref())]);
  }

  /** After stop() and after the provider workers stopped (their last ends are still being released). */
  async close(): Promise<void> {
    await this.scheduler.close(1000);
    if (this.drained) await this.dispatcher.close();
    else void this.dispatcher.destroy().catch(() => undefined);
  }
}
