import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { freePort } from '../../src/infra/redis-server.js';
import { runReconcileCli } from '../../src/reconcile/cli.js';
import type { ReconcileReport } from '../../src/reconcile/freedompay.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { uid } from '../helpers/ids.js';

// `fiscal-worker reconcile freedompay`: the sandbox's receipts vs the local records, with a seeded mismatch.

const MERCHANT = '542088';
const SECRET = 'test-secret';
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const today = () => new Date().toISOString().slice(0, 10);

function receipt(payment_id: string) {
  return {
    payment_id,
    operation_type: 'sell',
    positions: [{ price: 50, name: 'Товар №1', quantity: 2 }, { price: 100, name: 'Товар №2', quantity: 1 }],
    settlements: [{ type: 'cashless', sum: 200 }],
  };
}

function capture() {
  let stdout = '';
  let stderr = '';
  return {
    io: { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } },
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}

describe('reconcile freedompay', () => {
  let h: Harness;
  const ids = { matching: `ok-${uid()}`, providerOnly: `only-${uid()}`, localOnly: `reject_${uid()}`, mismatch: `reject_${uid()}` };

  beforeAll(async () => {
    h = await startHarness({
      env: { FREEDOMPAY_MERCHANT_ID: MERCHANT, FREEDOMPAY_SECRET_KEY: SECRET },
      sandbox: { freedompay: { merchantId: MERCHANT, secretKey: SECRET } },
    });
    const accepted = await Promise.all([ids.matching, ids.localOnly, ids.mismatch].map((pid) => h.post('/v1/receipts/freedompay', receipt(pid))));
    await h.waitForState(accepted[0]!.body.id, 'succeeded');
    // `reject_` makes the sandbox refuse the create: these sales have no receipt at the provider.
    await h.waitForState(accepted[1]!.body.id, 'dead');
    await h.waitForState(accepted[2]!.body.id, 'dead');
    h.sandbox.seedReceipt({ payment_id: ids.providerOnly, total: 300 });
    h.sandbox.seedReceipt({ payment_id: ids.mismatch, total: 150 });
  });
  afterAll(() => h?.close());

  it('reports receipts missing on either side and different totals, and exits 1', async () => {
    const out = capture();
    const code = await runReconcileCli(['freedompay', '--from', today(), '--to', today(), '--json'], loadConfig(h.env), out.io);
    expect(code).toBe(1);
    const report = JSON.parse(out.stdout) as ReconcileReport;
    expect(report).toMatchObject({ provider: 'freedompay', from: today(), to: today(), provider_receipts: 3, local_records: 3 });
    expect(report.differences).toHaveLength(3);
    expect(report.differences).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'missing_locally', payment_id: ids.providerOnly, operation_type: 'sell', total: '300.00', status: 'registered' }),
        expect.objectContaining({ kind: 'missing_at_provider', record_id: `freedompay.sell-${ids.localOnly}`, state: 'dead', total: '200.00' }),
        expect.objectContaining({ kind: 'total_mismatch', record_id: `freedompay.sell-${ids.mismatch}`, local_total: '200.00', provider_total: '150.00' }),
      ]),
    );
    expect(out.stderr).toMatch(/provider: 3 receipts/);
  });

  it('prints one line per difference and a summary as text', async () => {
    const out = capture();
    expect(await runReconcileCli(['freedompay', '--from', today(), '--to', today()], loadConfig(h.env), out.io)).toBe(1);
    const lines = out.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.find((l) => l.startsWith('total_mismatch'))).toMatch(/local_total=200\.00 provider_total=150\.00/);
    expect(lines.at(-1)).toBe(`freedompay ${today()}..${today()}: 3 provider receipts, 3 local records, 3 difference(s)`);
  });

  it('exits 0 for a period without differences', async () => {
    const out = capture();
    expect(await runReconcileCli(['freedompay', '--from', '2020-01-01', '--to', '2020-01-31'], loadConfig(h.env), out.io)).toBe(0);
    expect(out.stdout).toMatch(/0 difference\(s\)/);
  });

  it('exits 2 when it cannot run: bad arguments, no configuration, Redis away', async () => {
    const bad = capture();
    expect(await runReconcileCli(['freedompay', '--from', '2024-02-30', '--to', '2024-01-01'], loadConfig(h.env), bad.io)).toBe(2);
    expect(bad.stderr).toMatch(/--from must be a date/);
    const unconfigured = capture();
    const env = { ...h.env, FREEDOMPAY_SECRET_KEY: '' };
    expect(await runReconcileCli(['freedompay', '--from', today(), '--to', today()], loadConfig(env), unconfigured.io)).toBe(2);
    expect(unconfigured.stderr).toMatch(/FREEDOMPAY_SECRET_KEY/);
    const noRedis = capture();
    const away = { ...h.env, REDIS_URL: `redis://127.0.0.1:${await freePort()}` };
    expect(await runReconcileCli(['freedompay', '--from', today(), '--to', today()], loadConfig(away), noRedis.io)).toBe(2);
    expect(noRedis.stderr).toMatch(/reconcile failed/);
  });

  it('runs as `fiscal-worker reconcile`: report on stdout, exit code 1', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'reconcile', 'freedompay', '--from', today(), '--to', today(), '--json'], {
      env: { ...process.env, ...h.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    expect((JSON.parse(stdout) as ReconcileReport).differences).toHaveLength(3);
  });
});
