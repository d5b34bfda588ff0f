import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { runSandboxCli } from '../../src/sandbox/cli.js';

// `fiscal-worker sandbox`: one JSON line with the URL on start, exit 0 on SIGTERM.

const CLI = fileURLToPath(new URL('../../src/sandbox/cli.ts', import.meta.url));

describe('sandbox CLI', () => {
  it('logs one JSON line with the URL, honouring --host and --port over env', async () => {
    const lines: string[] = [];
    const sandbox = await runSandboxCli(['--host', '127.0.0.1', '--port=0'], { port: 1 }, { destination: { write: (s: string) => void lines.push(s) } });
    try {
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] ?? '')).toMatchObject({ level: 30, msg: 'sandbox listening', url: sandbox.url });
      expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await sandbox.close();
    }
  });

  it('refuses a bad --port', async () => {
    await expect(runSandboxCli(['--port', 'abc'], {})).rejects.toThrow(/--port/);
    await expect(runSandboxCli(['--port'], {})).rejects.toThrow(/--port needs a value/);
  });

  it('--max-calls keeps only the newest calls; a bad count is refused', async () => {
    const sandbox = await runSandboxCli(['--port', '0', '--max-calls', '3', '--max-records=2'], {}, { destination: { write: () => undefined } });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await request(`${sandbox.url}/payment/uzum_confirm`, { method: 'POST', body: JSON.stringify({ payment_id: `cap-${i}`, qr_code: 'q' }) });
        await res.body.text();
      }
      const res = await request(`${sandbox.url}/__sandbox/calls`);
      const calls = (await res.body.json()) as { key: string }[];
      expect(calls.map((c) => c.key)).toEqual(['cap-2', 'cap-3', 'cap-4']);
      expect(sandbox.callCount()).toBe(5); // every provider call counted, also those no longer kept; control reads are not calls
    } finally {
      await sandbox.close();
    }
    await expect(runSandboxCli(['--max-calls', '0'], {})).rejects.toThrow(/--max-calls must be a whole number of at least 1/);
    await expect(runSandboxCli(['--max-records', '1.5'], {})).rejects.toThrow(/--max-records/);
  });

  it('runs as a process and exits 0 on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', `import { runSandboxCli } from ${JSON.stringify(CLI)}; await runSandboxCli(['--port', '0'], {});`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = JSON.parse(String((await lines.next()).value)) as { url: string; msg: string };
    expect(first.msg).toBe('sandbox listening');

    const res = await request(`${first.url}/nope`);
    expect(res.statusCode).toBe(404);
    await res.body.text();

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  }, 10_000);
});
