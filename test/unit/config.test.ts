import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('configuration (CONTRACT §2)', () => {
  it('has the contract defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: 'fiscal',
      host: '127.0.0.1',
      port: 3000,
      metricsPort: 9464,
      providerTimeoutMs: 15_000,
      workerConcurrency: 50,
      retry: { attempts: 15, baseMs: 2000, maxMs: 3_600_000 },
      circuit: { threshold: 5, probeMs: 5000 },
      retentionSeconds: 7 * 86_400,
      qrAllowedHosts: ['ofd.soliq.uz'],
      shutdownTimeoutMs: 30_000,
      logLevel: 'info',
    });
    expect(Object.isFrozen(c) && Object.isFrozen(c.retry)).toBe(true);
  });

  it('reports every bad variable on its own line, by name', () => {
    const lines = problems({ RETRY_ATTEMPTS: 'abc', PORT: '70000', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' });
    expect(lines).toHaveLength(4);
    for (const name of ['RETRY_ATTEMPTS', 'PORT', 'REDIS_URL', 'LOG_LEVEL']) expect(lines.some((l) => l.startsWith(`${name}:`))).toBe(true);
  });

  it('checks relations between variables', () => {
    expect(problems({ RETRY_BASE_MS: '5000', RETRY_MAX_MS: '100' })).toEqual(['RETRY_MAX_MS: must be at least RETRY_BASE_MS']);
    expect(problems({ BOARD_USERNAME: 'ops' })).toEqual(['BOARD_PASSWORD: BOARD_USERNAME and BOARD_PASSWORD must be set together']);
    expect(problems({ CALLBACK_URL: 'https://sales.example/cb' })).toEqual(['CALLBACK_SECRET: required when CALLBACK_URL is set']);
  });

  it('parses lists and per-provider rate limits', () => {
    const c = loadConfig({ API_TOKENS: ' a, b ,,', RATE_LIMIT_PAYME: '20', RATE_LIMIT_CLICK: '5', RATE_LIMIT_FREEDOMPAY: '0.5', QR_ALLOWED_HOSTS: 'ofd.soliq.uz,test.soliq.uz' });
    expect(c.apiTokens).toEqual(['a', 'b']);
    expect(c.rateLimits).toEqual({ payme: 20, click: 5, freedompay: 0.5 });
    expect(problems({ RATE_LIMIT_CLICK: 'fast' })).toEqual(['RATE_LIMIT_CLICK: must be a positive number of calls per second']);
    expect(c.qrAllowedHosts).toEqual(['ofd.soliq.uz', 'test.soliq.uz']);
  });

  it('never echoes a secret value in a problem', () => {
    const lines = problems({ API_TOKENS: 'tok-secret', BOARD_USERNAME: 'u', CALLBACK_URL: 'https://x.example', FREEDOMPAY_SECRET_KEY: 'k-secret' });
    expect(lines.join('\n')).not.toMatch(/tok-secret|k-secret/);
  });
});
