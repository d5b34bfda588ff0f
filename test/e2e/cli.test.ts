import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Runs the real CLI entry point (through tsx, so no build is needed) and collects its output. */
function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      cwd: process.cwd(),
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('fiscal-worker CLI', () => {
  it('serve with RETRY_ATTEMPTS=abc exits 78 naming the variable, before touching Redis', async () => {
    const { code, stderr, stdout } = await runCli(['serve'], { RETRY_ATTEMPTS: 'abc', REDIS_URL: 'redis://127.0.0.1:1' });
    expect(code).toBe(78);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^RETRY_ATTEMPTS: /)]);
    expect(stdout).toBe('');
  });

  it('refuses to serve on a non-loopback HOST without tokens and board credentials (exit 78)', async () => {
    const { code, stderr } = await runCli(['api'], { HOST: '0.0.0.0', REDIS_URL: 'redis://127.0.0.1:1' });
    expect(code).toBe(78);
    expect(stderr).toMatch(/^API_TOKENS: required when HOST \(0\.0\.0\.0\) is not loopback$/m);
    expect(stderr).toMatch(/^BOARD_USERNAME: /m);
  });

  it('an unknown command exits 2 with the usage', async () => {
    const { code, stderr } = await runCli(['frobnicate'], {});
    expect(code).toBe(2);
    expect(stderr).toMatch(/usage: fiscal-worker/);
  });
});
