import { spawnSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { startRedisServer, type ThrowawayRedis } from '../../src/infra/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisSource: string;
  }
}

function dockerAnswers(): boolean {
  const probe = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 5000 });
  return probe.status === 0 && probe.stdout.toString().trim().length > 0;
}

/**
 * One real Redis for the whole run (never a mock): TEST_REDIS_URL when set (never flushed: every test file uses its
 * own QUEUE_PREFIX), else a testcontainers Redis when Docker answers, else a throwaway `redis-server` child.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.TEST_REDIS_URL) {
    project.provide('redisUrl', process.env.TEST_REDIS_URL);
    project.provide('redisSource', 'TEST_REDIS_URL');
    return async () => undefined;
  }
  if (dockerAnswers()) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('redis:7-alpine')
      .withCommand(['redis-server', '--maxmemory-policy', 'noeviction'])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
      .start();
    project.provide('redisUrl', `redis://${container.getHost()}:${container.getMappedPort(6379)}`);
    project.provide('redisSource', 'testcontainers');
    return async () => {
      await container.stop();
    };
  }
  const redis: ThrowawayRedis = await startRedisServer();
  project.provide('redisUrl', redis.url);
  project.provide('redisSource', 'redis-server child');
  return () => redis.stop();
}
