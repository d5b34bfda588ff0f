import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { recordId } from '../../src/domain/ids.js';
import { freePort } from '../../src/infra/redis-server.js';
import { runEnqueueCli } from '../../src/producers/bulk-cli.js';
import type { Reject } from '../../src/producers/bulk-rejects.js';
import { OTHER_QR, QR, startHarness, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';

/**
 * `fiscal-worker enqueue FILE|-` (CONTRACT §1, issue 16) on small files: local mode (Redis, through the producer)
 * and `--url` mode (a real `api` over HTTP), every kind of line, exit codes, the rejects file, resuming.
 * The 100,000-line runs (RSS, rates, an api restarted mid-file) are in bulk-enqueue.load.test.ts.
 */

const TOKEN = 'bulk-test-token-7f3a9c';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Twelve lines, every kind: 4 created, 1 duplicate, 1 conflict, 4 invalid, 2 blank. Keys are unique per call. */
function mixedFile(tag: string): { text: string; keys: string[] } {
  const keys = ['a', 'b', 'c', 'd'].map((k) => `bulk-${tag}-${k}`);
  const [a, b, c, d] = keys as [string, string, string, string];
  const lines = [
    JSON.stringify({ provider: 'payme', payment_id: a, qr_code: QR, reference: `ref-${tag}` }),
    JSON.stringify({ provider: 'uzum', payment_id: b, qr_code: QR }),
    '',
    `${JSON.stringify({ provider: 'anor', transaction_id: c, qr_code: QR })}\r`,
    JSON.stringify({ provider: 'payme', payment_id: a, qr_code: QR, reference: `ref-${tag}` }),
    JSON.stringify({ provider: 'payme', payment_id: a, qr_code: OTHER_QR }),
    JSON.stringify({ provider: 'payme', qr_code: QR }),
    '{"provider":"payme","payment_id":',
    JSON.stringify({ provider: 'payme', payment_id: `long-${tag}`, qr_code: QR, reference: 'x'.repeat(600_000) }),
    JSON.stringify({ provider: 'payme', payment_id: `proto-${tag}`, qr_code: QR, ['__proto__']: { polluted: true } }),
    '   ',
    JSON.stringify({ provider: 'uzum', payment_id: d, qr_code: QR }),
  ];
  return { text: lines.join('\n'), keys };
}

function capture() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: (stdin: AsyncIterable<Buffer | string> = Readable.from([])) => ({
      stdin,
      stdout: { write: (s: string) => (out.stdout += s) },
      stderr: { write: (s: string) => (out.stderr += s), isTTY: false },
    }),
  };
}

async function readRejects(path: string): Promise<Reject[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Reject);
}

describe('fiscal-worker enqueue', () => {
  let h: Harness;
  let dir: string;
  const cli = async (args: string[], opts: { stdin?: AsyncIterable<Buffer | string>; env?: Record<string, string> } = {}) => {
    const c = capture();
    const code = await runEnqueueCli(args, { ...c.io(opts.stdin), loadConfig: () => loadConfig({ ...h.env, ...opts.env }) });
    return { code, ...c.out };
  };
  const job = (provider: 'payme' | 'uzum' | 'anor', key: string) => h.app.queues.forRecord(recordId(provider, key))!.queue.getJob(recordId(provider, key));

  beforeAll(async () => {
    h = await startHarness({ mode: 'api', sandbox: false, env: { API_TOKENS: TOKEN } });
    dir = await mkdtemp(join(tmpdir(), 'bulk-enqueue-'));
  });
  afterAll(async () => {
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('local: counts every kind of line exactly, writes the rejects with line numbers, exits 1; a re-run is all duplicates', async () => {
    const tag = uid();
    const { text, keys } = mixedFile(tag);
    const file = join(dir, `mixed-${tag}.ndjson`);
    await writeFile(file, text);

    const first = await cli([file]);
    expect(first.stdout).toBe('created 4, duplicate 1, conflict 1, invalid 4\n');
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/^enqueue: 10 lines in \d+\.\d s \(\d+ lines\/s\), 2 blank lines skipped, 5 lines not accepted, in .*\.rejects\.ndjson, peak RSS \d+ MiB$/m);

    const rejects = await readRejects(`${file}.rejects.ndjson`);
    expect(rejects.map((r) => [r.line, r.result])).toEqual([
      [6, 'conflict'],
      [7, 'invalid'],
      [8, 'invalid'],
      [9, 'invalid'],
      [10, 'invalid'],
    ]);
    expect(rejects[0]!.errors).toEqual([{ field: 'qr_code', message: expect.stringContaining('already accepted with a different qr_code') }]);
    expect(rejects[1]!.errors).toEqual([{ field: 'payment_id', message: 'payment_id is required and must be a string' }]);
    expect(rejects[2]!.errors[0]!.message).toMatch(/^not JSON: /);
    expect(rejects[2]!.input).toBe('{"provider":"payme","payment_id":');
    expect(rejects[3]).toMatchObject({ errors: [{ field: '(line)', message: expect.stringMatching(/^line is longer than 524288 bytes/) }], input_truncated: true });
    expect(rejects[3]!.input).toHaveLength(1000);
    expect(rejects[4]!.errors[0]!.message).toMatch(/forbidden key __proto__/);

    // One job per accepted payment; the conflicting line did not replace the first qr_code.
    const [a, b, c, d] = keys as [string, string, string, string];
    expect((await job('payme', a))?.data).toMatchObject({ payment_id: a, qr_code: QR, reference: `ref-${tag}` });
    expect((await job('uzum', b))?.data).toMatchObject({ payment_id: b });
    expect((await job('anor', c))?.data).toMatchObject({ transaction_id: c });
    expect((await job('uzum', d))?.data).toMatchObject({ payment_id: d });
    expect(await job('payme', `long-${tag}`)).toBeUndefined();

    const again = await cli([file]);
    expect(again.stdout).toBe('created 0, duplicate 5, conflict 1, invalid 4\n');
    expect(again.code).toBe(1);
    expect(await readRejects(`${file}.rejects.ndjson`)).toHaveLength(5);
  });

  it('local: a stdin of accepted lines exits 0 and leaves no rejects file behind', async () => {
    const tag = uid();
    const rejectsPath = join(dir, `stale-${tag}.ndjson`);
    await writeFile(rejectsPath, '{"line":1,"result":"invalid"}\n');
    const lines = ['payme', 'uzum', 'anor'].map((p) => JSON.stringify({ provider: p, [p === 'anor' ? 'transaction_id' : 'payment_id']: `stdin-${tag}-${p}`, qr_code: QR }));
    const run = await cli(['-', '--rejects', rejectsPath], { stdin: Readable.from([`${lines.join('\n')}\n`]) });
    expect(run).toMatchObject({ code: 0, stdout: 'created 3, duplicate 0, conflict 0, invalid 0\n' });
    await expect(readFile(rejectsPath)).rejects.toThrow(/ENOENT/);
  });

  it('--url: the same counts through a remote api in small batches, the token never printed', async () => {
    const tag = uid();
    const { text, keys } = mixedFile(tag);
    const file = join(dir, `url-${tag}.ndjson`);
    await writeFile(file, text);
    // One batch at a time keeps file order between batches, so the conflict is the sixth line, as in local mode.
    const run = await cli([file, '--url', h.url, '--token', TOKEN, '--batch-size', '2', '--concurrency', '1']);
    expect(run.stdout).toBe('created 4, duplicate 1, conflict 1, invalid 4\n');
    expect(run.code).toBe(1);
    expect((await readRejects(`${file}.rejects.ndjson`)).map((r) => [r.line, r.result, r.errors[0]!.field])).toEqual([
      [6, 'conflict', 'qr_code'],
      [7, 'invalid', 'payment_id'],
      [8, 'invalid', '(line)'],
      [9, 'invalid', '(line)'],
      [10, 'invalid', '(line)'],
    ]);
    expect((await job('payme', keys[0]!))?.data).toMatchObject({ qr_code: QR });
    expect(run.stderr).not.toContain(TOKEN);

    const tokenFile = join(dir, `token-${tag}`);
    await writeFile(tokenFile, `${TOKEN}\n`);
    const again = await cli([file, '--url', `${h.url}/`, '--token-file', tokenFile, '--concurrency', '3']);
    expect(again.stdout).toBe('created 0, duplicate 5, conflict 1, invalid 4\n');
  });

  it('--url: a line nested deeper than the API takes is invalid on its own; the rest of its batch goes through', async () => {
    const tag = uid();
    const file = join(dir, `deep-${tag}.ndjson`);
    const ok = (k: string) => JSON.stringify({ provider: 'payme', payment_id: `deep-${tag}-${k}`, qr_code: QR });
    await writeFile(file, [ok('a'), `{"provider":"payme","payment_id":"deep-${tag}-b","x":${'['.repeat(5000)}${']'.repeat(5000)}}`, ok('c')].join('\n'));
    const run = await cli([file, '--url', h.url, '--token', TOKEN]);
    expect(run).toMatchObject({ code: 1, stdout: 'created 2, duplicate 0, conflict 0, invalid 1\n' });
    expect((await readRejects(`${file}.rejects.ndjson`))[0]).toMatchObject({ line: 2, errors: [{ field: '(line)', message: 'nested deeper than 30 levels' }], input_truncated: true });
  });

  it('--url with a wrong token exits 2 at once, sends nothing again and never prints the token', async () => {
    const tag = uid();
    const file = join(dir, `token-${tag}.ndjson`);
    await writeFile(file, `${JSON.stringify({ provider: 'payme', payment_id: `token-${tag}`, qr_code: QR })}\n`);
    const wrong = `${TOKEN}-wrong`;
    const started = Date.now();
    const run = await cli([file, '--url', h.url, '--token', wrong]);
    expect(run.code).toBe(2);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(run.stderr).toMatch(/the API refused the token \(HTTP 401 unauthorized: the bearer token is not valid\); check --token/);
    expect(run.stderr).toMatch(/continue with: fiscal-worker enqueue .* --from-line 1$/m);
    expect(run.stderr).not.toContain(wrong);
    expect(run.stdout).toBe('created 0, duplicate 0, conflict 0, invalid 0\n');
    expect(await job('payme', `token-${tag}`)).toBeUndefined();
  });

  it('--url with no api answering retries for --retry-for, then exits 2 naming the line to resume from', async () => {
    const tag = uid();
    const file = join(dir, `down-${tag}.ndjson`);
    await writeFile(file, `${JSON.stringify({ provider: 'payme', payment_id: `down-${tag}`, qr_code: QR })}\n`);
    const run = await cli([file, '--url', `http://127.0.0.1:${await freePort()}`, '--retry-for', '1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^enqueue: line 1 not acknowledged \(no answer from the API \(ECONNREFUSED: .*\)\); sending again in \d+\.\d s$/m);
    expect(run.stderr).toMatch(/^enqueue stopped: line 1 not acknowledged for 1 s \(--retry-for\)/m);
    expect(run.stderr).toMatch(/--from-line 1$/m);
  });

  it('--from-line resumes: only the lines from there are sent and counted, and rejects are appended', async () => {
    const tag = uid();
    const { text, keys } = mixedFile(tag);
    const file = join(dir, `resume-${tag}.ndjson`);
    const rejectsPath = `${file}.rejects.ndjson`;
    await writeFile(file, text);
    await writeFile(rejectsPath, '{"line":2,"result":"invalid","errors":[],"input":"from the first run"}\n');
    const run = await cli([file, '--from-line', '6']);
    // Lines 6–12: the conflict line is now the first payme line of its payment, so it is created.
    expect(run.stdout).toBe('created 2, duplicate 0, conflict 0, invalid 4\n');
    expect((await readRejects(rejectsPath)).map((r) => r.line)).toEqual([2, 7, 8, 9, 10]);
    expect(await job('uzum', keys[1]!)).toBeUndefined();
    expect((await job('payme', keys[0]!))?.data).toMatchObject({ qr_code: OTHER_QR });
  });

  it('exits 2 with a clear message when it cannot run: Redis away, no file, bad flags', async () => {
    const file = join(dir, `any-${uid()}.ndjson`);
    await writeFile(file, '{}\n');
    const redisAway = await cli([file], { env: { REDIS_URL: `redis://127.0.0.1:${await freePort()}` } });
    expect(redisAway.code).toBe(2);
    expect(redisAway.stderr).toMatch(/^enqueue: Redis at REDIS_URL does not answer: /);

    const missing = await cli([join(dir, 'nope.ndjson')]);
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringMatching(/^cannot read .*nope\.ndjson: ENOENT/) });

    const flags = await cli([file, '--batch-size', '5000', '--token', 'x', '--url', 'ftp://h']);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toContain('--url must be an http(s) URL of a fiscal-worker api');
    expect(flags.stderr).toContain('--batch-size must be an integer from 1 to 1000, not "5000"');
    expect(flags.stderr).toContain('usage: fiscal-worker enqueue FILE|-');
    expect((await cli([])).stderr).toMatch(/^give exactly one input/);
    expect((await cli([file, '--token', 'x'])).stderr).toMatch(/--token and --token-file go with --url/);
  });

  it('the real command: examples/confirmations.ndjson through `fiscal-worker enqueue`; SIGINT on an open pipe says where to resume', async () => {
    const env = { PATH: process.env.PATH ?? '', REDIS_URL: h.env.REDIS_URL!, QUEUE_PREFIX: h.prefix };
    const rejectsPath = join(dir, `example-${uid()}.rejects.ndjson`);
    const example = await runMain(['enqueue', 'examples/confirmations.ndjson', '--rejects', rejectsPath], env);
    expect(example).toMatchObject({ code: 1, stdout: 'created 4, duplicate 0, conflict 0, invalid 1\n' });
    expect((await readRejects(rejectsPath)).map((r) => [r.line, r.errors[0]!.field])).toEqual([[6, 'qr_code']]);

    // A producer that keeps its pipe open: lines go out after a quiet moment, SIGINT stops the run (exit 2).
    const tag = uid();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'enqueue', '-', '--rejects', join(dir, `pipe-${tag}.ndjson`)], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = collect(child);
    child.stdin.write(['a', 'b', 'c'].map((k) => `${JSON.stringify({ provider: 'payme', payment_id: `pipe-${tag}-${k}`, qr_code: QR })}\n`).join(''));
    for (;;) {
      if (await job('payme', `pipe-${tag}-c`)) break;
      if (child.exitCode !== null) throw new Error(`enqueue exited early: ${out.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The batch's answer is in hand once its jobs exist, and an interruption still commits what was answered.
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(out.stdout).toBe('created 3, duplicate 0, conflict 0, invalid 0\n');
    expect(out.stderr).toMatch(/^enqueue stopped: interrupted$/m);
    expect(out.stderr).toMatch(/every line before 4 is done; continue with: fiscal-worker enqueue - … --from-line 4$/m);
  });
});

function collect(child: ReturnType<typeof spawn>) {
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (c: Buffer) => (out.stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out.stderr += c.toString()));
  return out;
}

function runMain(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(child);
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, ...out })));
}
