import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { recordReader } from './callbacks/capture.js';
import { CALLBACK_QUEUE, openCallbackQueue, type CallbackJobData } from './callbacks/events.js';
import { Callbacks, type CallbackTransportOptions } from './callbacks/worker.js';
import { ConfigError, type Config } from './config/env.js';
import { startupProblems } from './config/production.js';
import { PROVIDERS, type Provider } from './domain/provider.js';
import { registerBoard } from './http/board.js';
import { bearerAuth } from './http/auth.js';
import { attachDeadline } from './http/deadline.js';
import type { StoreDeadline } from './infra/deadline.js';
import { confirmationRoutes } from './http/routes/confirmations.js';
import { paymentOpenApiPaths, paymentRoutes } from './http/routes/payments.js';
import { receiptOpenApiPaths, receiptRoutes } from './http/routes/receipts.js';
import { deadLetterRoutes } from './http/routes/dead-letters.js';
import { healthRoutes } from './http/routes/health.js';
import { buildOpenApi, openApiRoute } from './http/routes/openapi.js';
import { createHttpServer } from './http/server.js';
import type { Layout } from './infra/layout.js';
import { refuseOtherStoredShards } from './infra/layout-store.js';
import { closeRedis, createRedis, type RedisClient } from './infra/redis.js';
import { ProviderQueues } from './infra/queues.js';
import { DeadLetters } from './operations/dead-letters.js';
import { QueueCatalog } from './operations/queue-catalog.js';
import { layoutOf } from './providers/index.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { registerQueueGauges } from './observability/queue-gauges.js';
import { ReadinessProbe } from './observability/readiness.js';
import { ConfirmationProducer } from './producers/enqueue.js';
import { confirmationSchema } from './producers/schemas.js';
import { PaymentProducer } from './producers/payments.js';
import { ReceiptProducer } from './producers/receipts.js';
import { RecordStore } from './records/record-store.js';
import { tombstoneSeconds } from './records/tombstones.js';
import { WorkerHost } from './workers/worker-host.js';

export type AppMode = 'serve' | 'api' | 'worker';

export interface AppOptions {
  config: Readonly<Config>;
  logger: Logger;
  mode: AppMode;
  /** Providers this process works for (`worker --providers`); default: every provider of the registry. */
  providers?: readonly Provider[];
  /** Tests: resolve callback hosts without DNS, trust a local https receiver. */
  callbackTransport?: CallbackTransportOptions;
  /** Tests: how long a callback scheduled before its record's end waits for its release (default: the lock duration). */
  callbackGraceMs?: number;
  /**
   * A configuration found wrong only once Redis answered (a sharded deployment started without its QUEUE_SHARDS);
   * main exits 78 with it, as with a problem found at start-up.
   */
  onLateConfigError?: (err: ConfigError) => void;
}

export interface App {
  config: Readonly<Config>;
  http: FastifyInstance;
  metrics: Metrics;
  queues: ProviderQueues;
  records: RecordStore;
  redis: RedisClient;
  producer: ConfirmationProducer;
  workers?: WorkerHost;
  /** The result callbacks queue (issue 17); its failed set is the callbacks' dead letters. */
  callbackQueue: Queue<CallbackJobData>;
  /** Dead letters of every queue: the one path the API, the CLI and the board replay and remove them through. */
  deadLetters: DeadLetters;
  /** Callback scheduling and delivery, in processes that run workers while callbacks are configured. */
  callbacks?: Callbacks;
  /** Listens (PORT for serve/api, METRICS_PORT for worker) and starts the workers; returns the base URL. */
  start(): Promise<string>;
  /** HTTP stops taking requests → workers finish active jobs (SHUTDOWN_TIMEOUT_MS) → queues → Redis. */
  close(): Promise<void>;
}

/** The only place that wires things together. */
export async function buildApp(options: AppOptions): Promise<App> {
  const { config, logger, mode } = options;
  const servesApi = mode !== 'worker';
  const problems = startupProblems(config, servesApi);
  if (problems.length) throw new ConfigError(problems);
  if (config.sandboxProviders) logger.warn({ mode }, 'SANDBOX_PROVIDERS=true: providers are the sandbox; nothing is fiscalized for real');

  const metrics = createMetrics();
  const redis = createRedis(config.redisUrl, 'api', { cluster: config.redisCluster });
  redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
  const layout = await layoutOf(config, redis);
  if (!layout.stored) refuseShardsOnceReady(redis, layout, logger, options.onLateConfigError);
  const queues = new ProviderQueues(redis, layout);
  const records = new RecordStore(queues, redis);
  const callbackQueue = openCallbackQueue(redis, layout.auxiliaryPrefix(CALLBACK_QUEUE));
  const catalog = new QueueCatalog(queues, callbackQueue);
  const deadLetters = new DeadLetters({ catalog, redis, logger, tombstones: { layout, seconds: tombstoneSeconds(config) } });
  const readiness = new ReadinessProbe(redis, metrics, logger, [...new Set(layout.all().map((ref) => layout.key(ref, 'readyz')))]);
  // On every (re)connection, the first included: Redis may be down at start-up or come back with another configuration.
  redis.on('ready', () => void readiness.checkEvictionPolicy());
  const http = createHttpServer(logger);
  let workers: WorkerHost | undefined;
  await http.register(healthRoutes, { metrics, readiness, circuitsOpen: () => workers?.openCircuits() ?? [] });

  // Every mode: workers enqueue the payme confirmation after a Payme Go charge (issue 7), on the api connection.
  const producer = new ConfirmationProducer({ config, queues, metrics });
  if (servesApi) {
    const payments = new PaymentProducer({ config, queues, metrics });
    const receipts = new ReceiptProducer({ config, queues, metrics });
    await http.register(async (v1) => {
      v1.decorateRequest('deadline', null as unknown as StoreDeadline);
      v1.addHook('onRequest', attachDeadline);
      v1.addHook('onRequest', bearerAuth(config.apiTokens, config.apiTokenLabels));
      await v1.register(confirmationRoutes, { producer, records });
      await v1.register(paymentRoutes, { payments, records });
      await v1.register(receiptRoutes, { receipts, records });
      await v1.register(deadLetterRoutes, { deadLetters });
    });
    await registerBoard(http, { catalog, credentials: config.board, deadLetters });
    registerQueueGauges(metrics, queues, PROVIDERS, callbackQueue);
    await http.register(openApiRoute, buildOpenApi(confirmationSchema(config), { ...paymentOpenApiPaths(config), ...receiptOpenApiPaths(config) }));
  }

  const workerProviders = options.providers ?? PROVIDERS;

  let workerRedis: RedisClient | undefined;
  let callbacks: Callbacks | undefined;
  if (mode !== 'api') {
    workerRedis = createRedis(config.redisUrl, 'worker', { cluster: config.redisCluster });
    workerRedis.on('error', (err) => logger.warn({ err }, 'redis connection error (worker)'));
    workers = new WorkerHost({ config, connection: workerRedis, queues, logger, metrics, processors: { confirmations: producer } });
    if (config.callback.url || config.callback.allowedHosts.length > 0) {
      const scheduled = new Callbacks({
        config,
        connection: workerRedis,
        prefix: layout.auxiliaryPrefix(CALLBACK_QUEUE),
        logger,
        metrics,
        read: recordReader(queues),
        ...(options.callbackTransport ? { transport: options.callbackTransport } : {}),
        ...(options.callbackGraceMs !== undefined ? { graceMs: options.callbackGraceMs } : {}),
      });
      workers.beforeTerminal((provider, job, state) => scheduled.scheduler.prepare(provider, job, state));
      workers.onTerminal((provider, job, state) => scheduled.scheduler.release(provider, job, state));
      callbacks = scheduled;
    }
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    http,
    metrics,
    queues,
    records,
    redis,
    producer,
    ...(workers ? { workers } : {}),
    callbackQueue,
    deadLetters,
    ...(callbacks ? { callbacks } : {}),
    async start() {
      workers?.start(workerProviders);
      callbacks?.start();
      const port = mode === 'worker' ? config.metricsPort : config.port;
      const address = await http.listen({ host: config.host, port });
      logger.info({ mode, address, providers: mode === 'api' ? [] : workerProviders }, 'fiscal-worker started');
      return address;
    },
    close() {
      closing ??= (async () => {
        const step = async (name: string, fn: () => Promise<unknown>) => {
          try {
            await fn();
          } catch (err) {
            logger.warn({ err, step: name }, 'shutdown step failed');
          }
        };
        await step('http', () => http.close());
        // Provider work and callback deliveries stop side by side within one SHUTDOWN_TIMEOUT_MS; the callback scheduler
        // closes after the provider workers, whose last ends it still releases.
        await step('workers', () => Promise.all([workers?.close(config.shutdownTimeoutMs), callbacks?.stop(config.shutdownTimeoutMs)]));
        await step('callbacks', async () => callbacks?.close());
        await step('queues', () => Promise.all([queues.close(), callbackQueue.close()]));
        await step('redis', () => closeRedis(redis));
        if (workerRedis) await step('redis', () => closeRedis(workerRedis));
      })();
      return closing;
    },
  };
}

/**
 * A process on one Redis with QUEUE_SHARDS unset starts without Redis (nothing stored to read), but the deployment may
 * be sharded: such a process would serve and work the first shard only, and file a repeat that sits in another shard
 * as new. Checked once Redis answers; a conflict is a configuration error like any other.
 */
function refuseShardsOnceReady(redis: RedisClient, layout: Layout, logger: Logger, onError: ((err: ConfigError) => void) | undefined): void {
  const check = () =>
    refuseOtherStoredShards(redis, layout).catch((err: unknown) => {
      if (!(err instanceof ConfigError)) return logger.warn({ err }, 'stored layout could not be read; checked again on reconnection');
      logger.fatal({ problems: err.problems }, 'configuration refused by the stored layout');
      onError?.(err);
    });
  if (redis.status === 'ready') void check();
  redis.on('ready', () => void check());
}
