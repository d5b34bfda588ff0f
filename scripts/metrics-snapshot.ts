/**
 * docs/metrics.png from real data: `npx tsx scripts/metrics-snapshot.ts [--out docs/metrics.png] [--html FILE]`.
 *
 * Starts Redis (REDIS_URL when set, else a throwaway redis-server child), the provider sandbox, an `api` and a `worker`
 * process of the product (in-process, as in docker-compose), and a real Prometheus (own port, own TSDB directory,
 * scrape every 1 s, deploy/prometheus/alerts.yml loaded). Then about 75 s of traffic through the sandbox: a backlog
 * while no worker runs, a steady mix of successes, rejections, client errors and retries with varied latency, and a
 * 10 s Uzum outage. The dashboard's own expressions (deploy/grafana/dashboards/fiscal-worker.json) are read back with
 * query_range and drawn as SVG, and headless Chromium screenshots the page. Needs `prometheus` and `chromium`
 * (apt-get install -y prometheus chromium).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config/env.js';
import { freePort, startRedisServer, type ThrowawayRedis } from '../src/infra/redis-server.js';
import { createLogger } from '../src/observability/logger.js';
import { startSandbox } from '../src/sandbox/server.js';
import { ALERTS_FILE, dashboardPanels, REPO_ROOT, substituteGrafanaVariables } from '../test/helpers/deploy-queries.js';
import { commandAvailable, startPrometheus, targetOf, until } from '../test/helpers/prometheus.js';
import { confirmationBody, type Confirmation, type ConfirmProvider } from '../test/helpers/traffic.js';
import { renderChartPage, type ChartPanel } from './metrics-chart.js';

/** Grafana would pick ~4 s for this range and a 1 s scrape; 10 s draws calmer lines from the same data. */
const RATE_INTERVAL = '10s';
const BACKLOG_S = 10;
const STEADY_S = 55;
const OUTAGE = { from: 25, to: 35 }; // seconds into the steady phase
const TAIL_S = 10;
const TICK_MS = 200;

const PANELS: { title: string; refId: string; unit: ChartPanel['unit']; label: string; hideZero?: boolean }[] = [
  { title: 'Throughput by provider and class', refId: 'A', unit: 'per_second', label: 'Provider calls by provider and class', hideZero: true },
  { title: 'Provider latency p50 / p95 / p99', refId: 'B', unit: 'seconds', label: 'Provider latency p95' },
  { title: 'Queue depth', refId: 'A', unit: 'jobs', label: 'Queue depth (waiting / active / delayed)', hideZero: true },
  { title: 'Dead letters', refId: 'B', unit: 'jobs', label: 'Dead letters', hideZero: true },
];

const log = (message: string) => process.stdout.write(`metrics-snapshot: ${message}\n`);

function findChromium(): string | undefined {
  return ['chromium', 'chromium-browser', 'google-chrome'].find((command) => commandAvailable(command));
}

function prometheusVersion(): string {
  const run = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  return /version (\S+)/.exec(`${run.stdout}${run.stderr}`)?.[1] ?? '';
}

/** `payme success`: the provider first, then the other labels in the order the query groups them. */
function seriesName(metric: Record<string, string>): string {
  const { provider, ...rest } = metric;
  return [provider, ...Object.values(rest)].filter(Boolean).join(' ');
}

/** mulberry32: the same traffic on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One confirmation; its id carries the sandbox directives (docs/SANDBOX.md) that decide its fate. */
function nextConfirmation(rand: () => number, n: number, tag: string, outage: boolean): Confirmation {
  const roll = rand();
  const provider: ConfirmProvider = roll < 0.45 ? 'payme' : roll < 0.8 ? 'uzum' : 'anor';
  const latency = `slow${Math.round(15 + rand() ** 2 * (provider === 'payme' ? 320 : 160))}`;
  const fate = rand();
  let directives = latency;
  if (provider === 'uzum' && outage) directives = 's503x3';
  else if (fate < 0.06) directives = 'reject';
  else if (fate < 0.08) directives = provider === 'anor' ? 's404' : 's500';
  else if (fate < 0.14) directives = `s503x1_${latency}`;
  return { provider, key: `${directives}_${tag}-${n}` };
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { out: { type: 'string', default: 'docs/metrics.png' }, html: { type: 'string' } } });
  const out = resolve(REPO_ROOT, args.out ?? 'docs/metrics.png');
  const chromium = findChromium();
  if (!commandAvailable('prometheus') || !chromium) {
    process.stderr.write('metrics-snapshot: needs `prometheus` and `chromium` on PATH (apt-get install -y prometheus chromium)\n');
    process.exit(2);
  }

  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    let redisUrl = process.env.REDIS_URL;
    if (!redisUrl) {
      const redis: ThrowawayRedis = await startRedisServer();
      cleanup.unshift(() => redis.stop());
      redisUrl = redis.url;
    }
    const sandbox = await startSandbox();
    cleanup.unshift(() => sandbox.close());
    const workerPort = await freePort();
    const env = {
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: `snapshot-${randomUUID().slice(0, 8)}`,
      HOST: '127.0.0.1',
      PORT: '0',
      METRICS_PORT: String(workerPort),
      FISCALBOX_BASE_URL: sandbox.url,
      RETRY_ATTEMPTS: '4',
      RETRY_BASE_MS: '300',
      RETRY_MAX_MS: '3000',
      PROVIDER_TIMEOUT_MS: '2000',
      CIRCUIT_PROBE_MS: '3000',
      LOG_LEVEL: 'error',
    };
    const config = loadConfig(env);
    const logger = createLogger('error');
    const start = async (mode: 'api' | 'worker'): Promise<{ app: App; url: string }> => {
      const app = await buildApp({ config, logger, mode });
      cleanup.unshift(() => app.close());
      return { app, url: await app.start() };
    };
    const api = await start('api');
    const prom = await startPrometheus({
      jobs: { 'fiscal-api': [targetOf(api.url)], 'fiscal-worker': [`127.0.0.1:${workerPort}`] },
      ruleFiles: [join(REPO_ROOT, ALERTS_FILE)],
    });
    cleanup.unshift(() => prom.stop());
    log(`prometheus ${prom.url}, api ${api.url}, worker :${workerPort}`);
    await prom.waitForData('up{job="fiscal-api"} == 1');

    const rand = random(42);
    const tag = randomUUID().slice(0, 6);
    const failures: string[] = [];
    let n = 0;
    const send = (c: Confirmation) =>
      fetch(`${api.url}/v1/confirmations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(confirmationBody(c)),
      })
        .then((res) => (res.status === 202 ? undefined : failures.push(`${c.key}: HTTP ${res.status}`)))
        .catch((err: unknown) => failures.push(`${c.key}: ${String(err)}`));
    const tick = () => new Promise((r) => setTimeout(r, TICK_MS));

    const begin = Date.now() / 1000;
    log(`backlog for ${BACKLOG_S} s (no worker yet)`);
    for (let i = 0; i < (BACKLOG_S * 1000) / TICK_MS; i++) {
      void send(nextConfirmation(rand, n++, tag, false));
      await tick();
    }
    log('worker starts');
    await start('worker');
    const steadyStart = Date.now();
    log(`steady traffic for ${STEADY_S} s, Uzum outage from ${OUTAGE.from} s to ${OUTAGE.to} s`);
    while (Date.now() - steadyStart < STEADY_S * 1000) {
      const second = (Date.now() - steadyStart) / 1000;
      const outage = second >= OUTAGE.from && second < OUTAGE.to;
      for (let k = 0; k < 2; k++) void send(nextConfirmation(rand, n++, tag, outage));
      await tick();
    }
    log(`${n} confirmations sent; ${TAIL_S} s of quiet`);
    await until(async () => Date.now() / 1000 - begin > BACKLOG_S + STEADY_S + TAIL_S, 60_000, () => 'tail');
    if (failures.length) throw new Error(`confirmations not accepted: ${failures.slice(0, 5).join('; ')}`);
    const end = Date.now() / 1000;

    const byTitle = new Map(dashboardPanels().map((panel) => [panel.title, panel]));
    const panels: ChartPanel[] = [];
    for (const spec of PANELS) {
      const target = byTitle.get(spec.title)?.targets?.find((t) => t.refId === spec.refId);
      if (!target?.expr) throw new Error(`dashboard has no panel "${spec.title}" ${spec.refId}`);
      const expr = substituteGrafanaVariables(target.expr.replaceAll('$__rate_interval', RATE_INTERVAL));
      const answer = await prom.queryRange(expr, Math.floor(begin), Math.ceil(end), 1);
      if (answer.status !== 'success') throw new Error(`${expr}: ${answer.error}`);
      const series = answer.result
        .map((s) => ({
          name: seriesName(s.metric) || spec.label,
          points: (s.values ?? []).map(([t, v]): [number, number] => [t, Number(v)]),
        }))
        .filter((s) => !spec.hideZero || s.points.some(([, v]) => Number.isFinite(v) && v > 0))
        .sort((a, b) => a.name.localeCompare(b.name));
      panels.push({ title: spec.label, expr, unit: spec.unit, series });
      log(`${spec.label}: ${series.length} series`);
    }

    const html = renderChartPage({
      title: 'fiscal-worker — Grafana dashboard queries on real Prometheus data',
      subtitle:
        `${new Date(begin * 1000).toISOString().slice(0, 10)}: ${n} confirmations through the provider sandbox; ` +
        `no worker for the first ${BACKLOG_S} s, Uzum answering 503 between ${BACKLOG_S + OUTAGE.from} s and ${BACKLOG_S + OUTAGE.to} s. ` +
        `Prometheus ${prometheusVersion()} scraping an api and a worker process every 1 s; $__rate_interval = ${RATE_INTERVAL}; ` +
        'series that stayed at 0 are left out. ' +
        'Re-create: npx tsx scripts/metrics-snapshot.ts',
      start: Math.floor(begin),
      end: Math.ceil(end),
      panels,
    });
    const dir = mkdtempSync(join(tmpdir(), 'fiscal-snapshot-'));
    cleanup.unshift(async () => rmSync(dir, { recursive: true, force: true }));
    const page = join(dir, 'metrics.html');
    writeFileSync(page, html);
    if (args.html) writeFileSync(resolve(args.html), html);
    const shot = spawnSync(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--hide-scrollbars',
        `--user-data-dir=${join(dir, 'profile')}`,
        `--screenshot=${out}`,
        '--window-size=1400,900',
        `file://${page}`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (shot.status !== 0) throw new Error(`chromium failed (${shot.status}): ${shot.stderr}`);
    log(`wrote ${out}`);
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`metrics-snapshot: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
