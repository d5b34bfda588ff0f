import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { ConfigError, PROVIDERS, isLoopbackHost, type Config, type Provider } from './config/env.js';
import { registerBoard } from './http/board.js';
import { bearerAuth } from './http/auth.js';
import { confirmationRoutes } from './http/routes/confirmations.js';
import { healthRoutes } from './http/routes/health.js';
import { buildOpenApi, openApiRoute } from './http/routes/openapi.js';
import { createHttpServer } from './http/server.js';
import { closeRedis, createRedis } from './infra/redis.js';
import { ProviderQueues } from './infra/queues.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { registerQueueGauges } from './observability/queue-gauges.js';
import { ReadinessProbe } from './observability/readiness.js';
import { ConfirmationProducer } from './producers/enqueue.js';
import { RecordStore } from './producers/record-store.js';
import { WorkerHost, type ProcessorFactory } from './workers/worker-host.js';

export type AppMode = 'serve' | 'api' | 'worker';

export interface AppOptions {
  config: Readonly<Config>;
  logger: Logger;
  mode: AppMode;
  /** Providers this process works for (`worker --providers`); default: all with a processor. */
  providers?: readonly Provider[];
  /** Processors beyond the three confirmations. */
  processorFactories?: ReadonlyMap<Provider, ProcessorFactory>;
}

export interface App {
  config: Readonly<Config>;
  http: FastifyInstance;
  metrics: Metrics;
  queues: ProviderQueues;
  records: RecordStore;
  redis: Redis;
  producer?: ConfirmationProducer;
  workers?: WorkerHost;
  /** Listens (PORT for serve/api, METRICS_PORT for worker) and starts the workers; returns the base URL. */
  start(): Promise<string>;
  /** HTTP stops taking requests → workers finish active jobs (SHUTDOWN_TIMEOUT_MS) → queues → Redis. */
  close(): Promise<void>;
}

const CONFIRM_ONLY: readonly Provider[] = ['payme', 'uzum', 'anor'];

/** The only place that wires things together. */
export async function buildApp(options: AppOptions): Promise<App> {
  const { config, logger, mode } = options;
  const factories = options.processorFactories ?? new Map<Provider, ProcessorFactory>();
  const servesApi = mode !== 'worker';
  if (servesApi && !isLoopbackHost(config.host)) {
    const problems: string[] = [];
    if (config.apiTokens.length === 0) problems.push(`API_TOKENS: required when HOST (${config.host}) is not loopback`);
    if (!config.board.username) problems.push(`BOARD_USERNAME: required when HOST (${config.host}) is not loopback`);
    if (problems.length) throw new ConfigError(problems);
  }
  const workerProviders = options.providers ?? PROVIDERS.filter((p) => CONFIRM_ONLY.includes(p) || factories.has(p));

  const metrics = createMetrics();
  const redis = createRedis(config.redisUrl, 'api');
  redis.on('error', (err) => logger.warn({ err: { message: err.message } }, 'redis connection error'));
  const queues = new ProviderQueues(redis, config);
  const records = new RecordStore(queues, redis);
  const readiness = new ReadinessProbe(redis, metrics, logger);
  const http = createHttpServer(logger);
  await http.register(healthRoutes, { metrics, readiness });

  let producer: ConfirmationProducer | undefined;
  if (servesApi) {
    producer = new ConfirmationProducer({ config, redis, queues, metrics });
    const deps = { producer, records };
    await http.register(async (v1) => {
      v1.addHook('onRequest', bearerAuth(config.apiTokens));
      await v1.register(confirmationRoutes, deps);
    });
    await registerBoard(http, queues.all(PROVIDERS), config.board);
    registerQueueGauges(metrics, queues, PROVIDERS);
    await http.register(openApiRoute, buildOpenApi(config));
  }

  let workers: WorkerHost | undefined;
  let workerRedis: Redis | undefined;
  if (mode !== 'api') {
    workerRedis = createRedis(config.redisUrl, 'worker');
    workerRedis.on('error', (err) => logger.warn({ err: { message: err.message } }, 'redis connection error (worker)'));
    workers = new WorkerHost({ config, connection: workerRedis, logger, metrics });
  }

  let closing: Promise<void> | undefined;
  return {
    config,
    http,
    metrics,
    queues,
    records,
    redis,
    ...(producer ? { producer } : {}),
    ...(workers ? { workers } : {}),
    async start() {
      void readiness.checkEvictionPolicy();
      workers?.start(workerProviders, factories);
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
        await step('workers', async () => workers?.close(config.shutdownTimeoutMs));
        await step('queues', () => queues.close());
        await step('redis', () => closeRedis(redis));
        if (workerRedis) await step('redis', () => closeRedis(workerRedis));
      })();
      return closing;
    },
  };
}
