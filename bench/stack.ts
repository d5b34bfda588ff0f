import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { buildApp, type App, type AppMode } from '../src/app.js';
import { loadConfig } from '../src/config/env.js';
import { startRedisServer, type ThrowawayRedis } from '../src/infra/redis-server.js';
import { createLogger } from '../src/observability/logger.js';
import { startSandbox, type Sandbox } from '../src/sandbox/server.js';

export const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';

/** A throwaway Redis, the sandbox and one app, all on loopback; logs go nowhere (their cost is measured separately). */
export async function startStack(mode: AppMode, env: Record<string, string> = {}): Promise<{ app: App; url: string; sandbox: Sandbox; redis: ThrowawayRedis; close(): Promise<void> }> {
  const redis = await startRedisServer();
  const sandbox = await startSandbox({ maxCalls: 1000 });
  const config = loadConfig({
    REDIS_URL: redis.url,
    QUEUE_PREFIX: `bench-${randomUUID().slice(0, 8)}`,
    PORT: '0',
    FISCALBOX_BASE_URL: sandbox.url,
    LOG_LEVEL: 'info',
    ...env,
  });
  const sink = new Writable({ write: (_c, _e, done) => done() });
  const app = await buildApp({ config, logger: createLogger(config.logLevel, sink), mode });
  const url = await app.start();
  return {
    app,
    url,
    sandbox,
    redis,
    async close() {
      await app.close();
      await sandbox.close();
      await redis.stop();
    },
  };
}
