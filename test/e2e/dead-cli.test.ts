import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { freePort } from '../../src/infra/redis-server.js';
import { runDeadCli } from '../../src/operations/dead-cli.js';
import type { Endpoint } from '../../src/sandbox/types.js';
import { QR, startHarness, type Harness } from '../helpers/harness.js';
import { newCode, uid } from '../helpers/ids.js';
import { until } from '../helpers/wait.js';

/**
 * Issue 16, CONTRACT §1/§5: `fiscal-worker dead list|replay|remove` as a real child process (`node --import tsx
 * src/main.ts dead …`) on the harness's Redis and QUEUE_PREFIX, while the harness's workers run what it replays.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ME = userInfo().username;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The JSON log lines on stdout (the audit lines of replay and remove). */
  logs: Record<string, any>[];
}

describe('fiscal-worker dead', () => {
  let h: Harness;
  let env: Record<string, string>;
  beforeAll(async () => {
    h = await startHarness({ env: { PROVIDER_TIMEOUT_MS: '1000', CIRCUIT_THRESHOLD: '1000', WORKER_CONCURRENCY: '50' } });
    env = { REDIS_URL: h.env.REDIS_URL!, QUEUE_PREFIX: h.prefix, LOG_LEVEL: 'info' };
  });
  afterAll(() => h?.close());

  function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'dead', ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...env, ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('exit', (code) => {
        const logs = stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, any>);
        resolve({ code, stdout, stderr, logs });
      });
    });
  }

  /** Confirmations through the batch API; waits until each has reached `state`. */
  async function confirmAll(items: readonly (readonly [string, string])[], state: 'dead' | 'succeeded', timeoutMs = 15_000): Promise<string[]> {
    const ids: string[] = [];
    for (let start = 0; start < items.length; start += 1000) {
      const body = items.slice(start, start + 1000).map(([provider, key]) => ({ provider, [provider === 'anor' ? 'transaction_id' : 'payment_id']: key, qr_code: QR }));
      const res = await h.post('/v1/confirmations/batch', { items: body });
      expect(res.status).toBe(200);
      ids.push(...(res.body.results as { id: string }[]).map((r) => r.id));
    }
    for (const id of ids) await h.waitForState(id, state, timeoutMs);
    return ids;
  }

  async function deadCharge(): Promise<{ id: string; customer: string }> {
    const customer = newCode();
    h.sandbox.program(customer, 'hangx1');
    const res = await h.post('/v1/payments/payme', { amount: 1200, qr_code: customer }, { 'idempotency-key': `order-${uid()}` });
    expect(res.body).toMatchObject({ state: 'dead', error: { kind: 'ambiguous' } });
    return { id: res.body.id as string, customer };
  }

  const calls = (endpoint: Endpoint, key: string) => h.sandbox.calls(endpoint).filter((c) => c.key === key).length;
  const state = async (id: string) => (await h.app.records.get(id))?.state;

  it('lists dead letters newest first as a table, or as JSON lines for scripts', async () => {
    const t = uid();
    const [uzum, anor] = await confirmAll(
      [
        ['uzum', `rejectx1_li1-${t}`],
        ['anor', `rejectx1_li2-${t}`],
      ],
      'dead',
    );
    const charge = await deadCharge();
    const expected = (await h.app.deadLetters.list({ limit: 1000 })).items.map((r) => r.id);
    expect(expected.slice(0, 3).sort()).toEqual([uzum, anor, charge.id].sort());

    const text = await cli(['list']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +PROVIDER +FINISHED_AT +ERROR +MESSAGE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(expected);
    expect(lines.find((l) => l.startsWith(charge.id))).toMatch(/ payme_go +\d{4}-\d\d-\d\dT[\d:.]+Z +ambiguous timeout +no complete answer within 1000 ms/);
    expect(lines.find((l) => l.startsWith(uzum!))).toMatch(/ uzum +\S+ +rejected -31001 +Payment rejected by provider$/);

    const json = await cli(['list', '--provider', 'uzum', '--json']);
    expect(json.code).toBe(0);
    const records = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string; provider: string; state: string });
    expect(records.map((r) => r.id)).toEqual((await h.app.deadLetters.list({ provider: 'uzum', limit: 1000 })).items.map((r) => r.id));
    expect(records.every((r) => r.provider === 'uzum' && r.state === 'dead')).toBe(true);
    expect(records[0]).toEqual(await h.app.records.get(records[0]!.id));

    const one = await cli(['list', '--limit', '1', '--json']);
    expect(one.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual([expected[0]]);
  });

  it('replays by id and by provider through the workers; the audit lines on stdout name the OS user', async () => {
    const t = uid();
    const [byId, anor1, anor2] = await confirmAll(
      [
        ['payme', `rejectx1_ri1-${t}`],
        ['anor', `rejectx1_ri2-${t}`],
        ['anor', `rejectx1_ri3-${t}`],
      ],
      'dead',
    );
    const run = await cli(['replay', byId!]);
    expect(run).toMatchObject({ code: 0, stderr: 'replayed 1, skipped 0\n' });
    expect(run.logs).toEqual([
      expect.objectContaining({ level: 'info', audit: 'replay', actor: { via: 'cli', name: ME }, scope: 'ids', force: false, requested: 1, replayed: 1, ids: [byId], skipped: 0 }),
    ]);
    expect((await h.waitForState(byId!, 'succeeded')).history.map((e) => e.class)).toEqual(['rejected', 'success']);

    const byProvider = await cli(['replay', '--provider', 'anor']);
    expect(byProvider.code).toBe(0);
    expect(byProvider.stderr).toMatch(/^replayed [2-9]\d*, skipped 0\n$/);
    expect(byProvider.logs.at(-1)).toMatchObject({ audit: 'replay', scope: 'anor', actor: { via: 'cli', name: ME } });
    await h.waitForState(anor1!, 'succeeded');
    await h.waitForState(anor2!, 'succeeded');
  });

  it('--all skips an ambiguous charge (exit 1, the id and reason on stderr); --force charges it exactly once more', async () => {
    const { id, customer } = await deadCharge();
    const all = await cli(['replay', '--all']);
    expect(all.code).toBe(1);
    expect(all.stderr).toMatch(/^replayed \d+, skipped [1-9]\d*\n/);
    expect(all.stderr).toContain(`  ${id}  needs_force: ${id} is ambiguous`);
    expect(all.stderr).toMatch(/may already have reached the provider: check them there, then replay them by id with --force/);
    expect(all.logs.at(-1)).toMatchObject({ audit: 'replay', scope: 'all', force: false, skipped_ids: expect.arrayContaining([{ id, reason: 'needs_force' }]) });
    expect(await state(id)).toBe('dead');
    expect(calls('payme_go', customer)).toBe(1);

    const forced = await cli(['replay', '--force', id]);
    expect(forced).toMatchObject({ code: 0, stderr: 'replayed 1, skipped 0\n' });
    expect(forced.logs.map((l) => l.audit)).toEqual(['forced_replay', 'replay']);
    expect(forced.logs[0]).toMatchObject({ level: 'warn', actor: { via: 'cli', name: ME }, ids: [id], queue: 'payme_go' });
    await h.waitForState(id, 'succeeded');
    expect(calls('payme_go', customer)).toBe(2);
  });

  it('a replay of what is not dead changes nothing and exits 1 saying why', async () => {
    const key = `nd-${uid()}`;
    const [alive] = await confirmAll([['uzum', key]], 'succeeded');
    const run = await cli(['replay', alive!, 'uzum.not-there']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `replayed 0, skipped 2\n  ${alive}  not_dead: ${alive} is not a dead letter (it is completed); nothing was replayed\n  uzum.not-there  not_found: no record with id uzum.not-there\n`,
    );
    expect(await state(alive!)).toBe('succeeded');
    expect(calls('uzum_confirm', key)).toBe(1);
  });

  it('removes dead letters, one line per id; exit 1 when one was not a dead letter', async () => {
    const t = uid();
    const [gone] = await confirmAll([['uzum', `reject_rm-${t}`]], 'dead');
    const [alive] = await confirmAll([['uzum', `alive-${t}`]], 'succeeded');
    const run = await cli(['remove', gone!, alive!]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`removed ${gone}\nnot a dead letter: ${alive} (nothing removed)\n`);
    expect(run.logs).toEqual([expect.objectContaining({ audit: 'remove', actor: { via: 'cli', name: ME }, queue: 'uzum', ids: [gone], count: 1 })]);
    expect(await h.app.records.get(gone!)).toBeUndefined();
    expect(await state(alive!)).toBe('succeeded');
    expect((await cli(['remove', alive!])).code).toBe(1);
  });

  it('exits 2 naming the problem when it cannot run, 78 for a bad environment', { timeout: 60_000 }, async () => {
    const inProcess = async (args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runDeadCli(args, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, loadConfig: () => loadConfig(env), user: 'tester' });
      return { code, stdout: out.join(''), stderr: err.join('') };
    };
    const usage = /usage: fiscal-worker dead list/;
    const nothing = await inProcess(['replay']);
    expect(nothing).toMatchObject({ code: 2, stdout: '' });
    expect(nothing.stderr).toMatch(/^give exactly one of --all, --provider P or ids\n/);
    expect(nothing.stderr).toMatch(usage);
    expect((await inProcess(['replay', '--all', '--provider', 'uzum'])).stderr).toMatch(/^give exactly one of --all, --provider P or ids, not --all and --provider\n/);
    const list = await inProcess(['list', '--provider', 'paypal', '--limit', '0']);
    expect(list.code).toBe(2);
    expect(list.stderr).toMatch(/^--provider must be one of payme, uzum, anor, click, payme_go, freedompay, callbacks, not "paypal"\n--limit must be a whole number ≥ 1, not "0"\n/);
    expect(await inProcess(['remove', '--everything'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/Unknown option '--everything'/) });
    expect(await inProcess(['remove'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^dead remove needs the ids of the dead letters to remove\n/) });
    expect((await inProcess(['frobnicate'])).stderr).toMatch(/^unknown dead-letter command "frobnicate": list, replay or remove\n/);

    const away = await cli(['list'], { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(away).toMatchObject({ code: 2, stdout: '' });
    expect(away.stderr).toMatch(/^dead list: Redis at REDIS_URL does not answer: /);

    const badEnv = await cli(['list'], { RETRY_ATTEMPTS: 'abc' });
    expect(badEnv.code).toBe(78);
    expect(badEnv.stderr).toMatch(/^RETRY_ATTEMPTS: /);
  });

  it('shows progress on stderr for many, keeping stdout for the records', { timeout: 90_000 }, async () => {
    const t = uid();
    const n = 600;
    const ids = await confirmAll(
      Array.from({ length: n }, (_, i) => ['click', `reject_many${i}-${t}`] as const),
      'dead',
      60_000,
    );
    const list = await cli(['list', '--provider', 'click', '--json']);
    expect(list.code).toBe(0);
    expect(list.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual([...ids].sort());
    expect(list.stderr).toMatch(new RegExp(`^dead list: ${n} of ${n} in [\\d.]+ s \\(\\d+/s\\)\\n$`));

    const replay = await cli(['replay', '--provider', 'click']);
    expect(replay.code).toBe(0);
    expect(replay.stderr).toMatch(new RegExp(`^dead replay: ${n} of ${n} in [\\d.]+ s \\(\\d+/s\\)\\nreplayed ${n}, skipped 0\\n$`));
    expect(replay.logs.at(-1)).toMatchObject({ audit: 'replay', requested: n, replayed: n });
    // Each ran again and was refused again: a second run, ended by a second terminal entry.
    for (const id of ids) await until(`${id} to end its second run`, async () => (await h.app.records.get(id))?.history.filter((e) => e.terminal).length === 2, 60_000);
  });

  it('stops a replay between chunks when interrupted: exit 2, and the audit line says so', async () => {
    const [id] = await confirmAll([['uzum', `reject_int-${uid()}`]], 'dead');
    const out: string[] = [];
    const err: string[] = [];
    const code = await runDeadCli(['replay', id!], {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      loadConfig: () => loadConfig(env),
      user: 'tester',
      signal: AbortSignal.abort(),
    });
    expect(code).toBe(2);
    expect(err.join('')).toBe('replayed 0, skipped 0\ndead replay interrupted: what was replayed stays replayed; run it again to go on\n');
    expect(out.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([expect.objectContaining({ audit: 'replay', actor: { via: 'cli', name: 'tester' }, requested: 0, interrupted: true })]);
    expect(await state(id!)).toBe('dead');
  });
});
