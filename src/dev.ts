/**
 * `npm run dev`: `serve` against the provider sandbox, on the Redis at REDIS_URL when one answers, otherwise on a
 * throwaway `redis-server` child. Everything stops on Ctrl-C.
 */
import { Redis } from 'ioredis';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config/env.js';
import { startRedisServer, type ThrowawayRedis } from './infra/redis-server.js';
import { createLogger } from './observability/logger.js';
import { redactUrl } from './observability/redact.js';
import { startSandbox } from './sandbox/server.js';

const DEV_FREEDOMPAY = { merchantId: '542088', secretKey: 'dev-secret-key' };

async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

async function main(): Promise<void> {
  const env = { ...process.env };
  const logger = createLogger(env.LOG_LEVEL ?? 'info');
  let throwaway: ThrowawayRedis | undefined;
  const wantedRedis = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (!(await redisAnswers(wantedRedis))) {
    logger.warn({ redis: redactUrl(wantedRedis) }, 'no Redis answers at REDIS_URL; starting a throwaway redis-server');
    throwaway = await startRedisServer();
    env.REDIS_URL = throwaway.url;
  }
  const freedompay = {
    merchantId: env.FREEDOMPAY_MERCHANT_ID || DEV_FREEDOMPAY.merchantId,
    secretKey: env.FREEDOMPAY_SECRET_KEY || DEV_FREEDOMPAY.secretKey,
  };
  const sandbox = await startSandbox({ freedompay, ...(env.FISCALBOX_TOKEN ? { fiscalboxToken: env.FISCALBOX_TOKEN } : {}) });
  Object.assign(env, {
    FISCALBOX_BASE_URL: sandbox.url,
    FREEDOMPAY_BASE_URL: sandbox.url,
    FREEDOMPAY_MERCHANT_ID: freedompay.merchantId,
    FREEDOMPAY_SECRET_KEY: freedompay.secretKey,
    QUEUE_PREFIX: env.QUEUE_PREFIX ?? 'fiscal-dev',
    SANDBOX_PROVIDERS: 'true', // so it also runs where NODE_ENV=production is set (config/production.ts)
  });
  const config = loadConfig(env);
  const app = await buildApp({ config, logger, mode: 'serve' });
  const address = await app.start();
  logger.info(
    { api: `${address}/v1/confirmations`, board: `${address}/admin/queues`, metrics: `${address}/metrics`, sandbox: sandbox.url, redis: redactUrl(config.redisUrl) },
    'dev stack ready: try curl -XPOST -H content-type:application/json --data @examples/confirmation.json <api>',
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await app.close();
    await sandbox.close();
    await throwaway?.stop();
    logger.info('dev stack stopped');
    logger.flush();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.problems.join('\n')}\n`);
    process.exit(78);
  }
  process.stderr.write(`npm run dev: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
