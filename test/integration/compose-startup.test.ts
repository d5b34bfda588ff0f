import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { DEMO_ENV, effectiveCommand, effectiveEnv, service } from '../helpers/compose.js';
import { spawnServe } from '../helpers/serve-process.js';

/**
 * Issue 19: docker-compose.yml's production services, started for real (`node --import tsx src/main.ts <command>`, the
 * command of the service) with exactly the environment Compose would give the container: the image's ENV plus the
 * service's `environment:` rendered for the shell (no env file: the defaults) or for deploy/demo.env. No Docker here:
 * Compose's interpolation is reproduced by test/helpers/compose.ts. The checks run before any connection, so the
 * compose-only Redis host does not matter for the refusals.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(command: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...command], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const variables = (stderr: string) => stderr.trim().split('\n').map((line) => line.slice(0, line.indexOf(':')));

describe('docker-compose.yml production services, started with the environment Compose gives them', () => {
  it('refuse to start with the defaults: exit 78, one line per missing variable, before touching Redis', async () => {
    const start = (name: string) => run(effectiveCommand(service(name)), effectiveEnv(service(name)));
    const [api, worker] = await Promise.all([start('api'), start('worker')]);
    expect(api.code).toBe(78);
    expect(variables(api.stderr)).toEqual(['FISCALBOX_BASE_URL', 'API_TOKENS', 'BOARD_USERNAME', 'BOARD_PASSWORD']);
    expect(worker.code).toBe(78);
    expect(variables(worker.stderr)).toEqual(['FISCALBOX_BASE_URL']);
    for (const output of [api, worker]) expect(output.stdout).toBe(''); // nothing logged: it never started
  });

  it('never fiscalize against the sandbox by mistake: demo URLs without SANDBOX_PROVIDERS, or a half-moved demo, stop', async () => {
    const { SANDBOX_PROVIDERS: _declared, ...undeclared } = DEMO_ENV;
    const halfMoved = { ...DEMO_ENV, FISCALBOX_BASE_URL: 'https://fiscalbox.example.uz' };
    const [sandboxUrls, mixed] = await Promise.all([run(['worker'], effectiveEnv(service('worker'), undeclared)), run(['worker'], effectiveEnv(service('worker'), halfMoved))]);
    expect(sandboxUrls.code).toBe(78);
    expect(sandboxUrls.stderr).toMatch(/^FISCALBOX_BASE_URL: must be an https URL of the real provider in production \(NODE_ENV=production\), not http:\/\/sandbox:8080;/m);
    expect(variables(sandboxUrls.stderr)).toEqual(['FISCALBOX_BASE_URL', 'FREEDOMPAY_BASE_URL']);
    expect(mixed.code).toBe(78);
    expect(mixed.stderr.trim()).toMatch(/^FISCALBOX_BASE_URL: SANDBOX_PROVIDERS=true, but https:\/\/fiscalbox\.example\.uz is a real provider/);
  });

  it('start with the demo env file, and say they use the sandbox', async () => {
    // Only what Docker's network provides is replaced: the Redis host, and a free loopback port instead of 0.0.0.0:3000.
    const env = { ...effectiveEnv(service('api'), DEMO_ENV), REDIS_URL: inject('redisUrl'), QUEUE_PREFIX: `test-compose-${randomUUID().slice(0, 8)}`, HOST: '127.0.0.1', PORT: '0' };
    const api = await spawnServe(env, 'api');
    try {
      expect(api.logs.some((line) => line.msg.startsWith('SANDBOX_PROVIDERS=true') && line.level === 'warn')).toBe(true);
      const res = await fetch(`${api.url}/v1/confirmations/payme.x`, { headers: { authorization: `Bearer ${DEMO_ENV.API_TOKENS}` } });
      expect(res.status).toBe(404); // the demo token is accepted; the record does not exist
    } finally {
      expect((await api.stop()).code).toBe(0);
    }
  }, 30_000);
});
