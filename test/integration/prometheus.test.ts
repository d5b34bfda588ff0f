import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { freePort } from '../../src/infra/redis-server.js';
import { startReceiver, type Receiver } from '../helpers/callback-receiver.js';
import { waitUntil } from '../helpers/wait.js';
import { ALERTS_FILE, dashboardAndAlertQueries, readAlertRules, REPO_ROOT } from '../helpers/deploy-queries.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { commandAvailable, startPrometheus, targetOf, type PrometheusServer } from '../helpers/prometheus.js';
import { alertOperands } from '../helpers/promql-operands.js';
import { OTHER_QR, QR, confirmationBody, confirmations, post, settle } from '../helpers/traffic.js';

// Issue 5: every PromQL expression of the Grafana dashboard and of the alert rules, evaluated by a real Prometheus
// that scraped a real product (an `api` process and a `worker` process, as in docker-compose) after traffic through
// the sandbox. The Prometheus here is our own child process on a free port with its own TSDB directory; a system
// Prometheus the Debian package may have started on :9090 is never used.

const HAVE_PROMETHEUS = commandAvailable('prometheus');
const HAVE_PROMTOOL = commandAvailable('promtool');
const INSTALL = 'install it with `apt-get install -y prometheus` (.ci/run does)';
for (const [tool, present] of [['prometheus', HAVE_PROMETHEUS], ['promtool', HAVE_PROMTOOL]] as const) {
  if (!present) console.warn(`prometheus.test.ts: SKIPPED the ${tool} tests: ${tool} is not installed; ${INSTALL}`);
}

/**
 * Dashboard targets the traffic below cannot move above zero, with the reason. Each must still be a valid query that
 * returns data (its series are exported at 0); only the "moved during the traffic" check is waived.
 */
const NOT_MOVED_BY_THIS_TRAFFIC: Readonly<Record<string, string>> = {};

/** Successes (some slow), rejections, retries then success, retries until dead: the sandbox's directives (docs/SANDBOX.md). */
const mix = (tag: string) => [
  ...confirmations('payme', '', 6, tag),
  ...confirmations('payme', 'slow150', 2, tag), // latency spread for the quantiles
  ...confirmations('payme', 'reject', 2, tag),
  ...confirmations('payme', 's500', 1, tag), // retryable every time: dead after RETRY_ATTEMPTS
  ...confirmations('uzum', '', 4, tag),
  ...confirmations('uzum', 's503x2', 2, tag), // two retries, then success
  ...confirmations('uzum', 'reject', 1, tag),
];
const MIX_DEAD = 2 + 1 + 1;

const dashboardQueries = dashboardAndAlertQueries().filter((q) => q.source.startsWith('dashboard '));
const allRules = readAlertRules();
const alertRules = allRules.filter((rule) => rule.alert !== undefined);

describe.skipIf(!HAVE_PROMTOOL)(`promtool accepts deploy/prometheus${HAVE_PROMTOOL ? '' : ` (SKIPPED: promtool is not installed; ${INSTALL})`}`, () => {
  const promtool = (...args: string[]) => {
    const run = spawnSync('promtool', args, { cwd: REPO_ROOT, encoding: 'utf8' });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  };

  it('promtool check rules deploy/prometheus/alerts.yml', () => {
    const run = promtool('check', 'rules', ALERTS_FILE);
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain(`SUCCESS: ${allRules.length} rules found`);
  });

  // Issue 19: a handful of jobs that always fail open the circuit and, with nothing else running, keep it open all
  // night; that must not page. An outage that holds real traffic must, within minutes. Series as the api and worker
  // export them.
  it('promtool test rules: FiscalCircuitOpen pages for held traffic, not for a handful of broken jobs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fiscal-alert-test-'));
    const series = (open: string, waiting: string, delayed: string) => [
      { series: 'fiscal_provider_circuit_open{job="fiscal-worker",instance="w:9464",provider="uzum"}', values: open },
      { series: 'fiscal_queue_jobs{job="fiscal-api",instance="api:3000",provider="uzum",state="waiting"}', values: waiting },
      { series: 'fiscal_queue_jobs{job="fiscal-api",instance="api:3000",provider="uzum",state="delayed"}', values: delayed },
    ];
    const firing = [{ exp_labels: { provider: 'uzum', severity: 'warning' } }];
    // promtool compares annotations too; the rules are tested here as written, without them.
    const rules = parse(readFileSync(join(REPO_ROOT, ALERTS_FILE), 'utf8')) as { groups: { rules: { annotations?: unknown }[] }[] };
    for (const group of rules.groups) for (const rule of group.rules) delete rule.annotations;
    writeFileSync(join(dir, 'alerts.yml'), stringify(rules));
    const tests = {
      rule_files: [join(dir, 'alerts.yml')],
      evaluation_interval: '1m',
      tests: [
        // Five broken jobs, open all night (8 h), nothing else.
        {
          interval: '1m',
          input_series: series('1x480', '0x480', '5x480'),
          alert_rule_test: ['15m', '2h', '8h'].map((at) => ({ eval_time: at, alertname: 'FiscalCircuitOpen', exp_alerts: [] })),
        },
        // The same night, then 200 healthy jobs arrive at 6 h: the first of them probes within CIRCUIT_PROBE_MS
        // (a job that has not failed is not held for the grown wait) and closes the circuit; a scrape may still see
        // them held for a minute or two. No page.
        {
          interval: '1m',
          input_series: series('1x361 0x119', '0x359 200x2 0x119', '5x361 0x119'),
          alert_rule_test: ['6h5m', '6h15m', '8h'].map((at) => ({ eval_time: at, alertname: 'FiscalCircuitOpen', exp_alerts: [] })),
        },
        // A short outage (8 minutes) holds traffic, then the provider answers again: no page.
        {
          interval: '1m',
          input_series: series('1x8 0x30', '0+20x8 0x30', '0+30x8 0x30'),
          alert_rule_test: ['8m', '12m', '30m'].map((at) => ({ eval_time: at, alertname: 'FiscalCircuitOpen', exp_alerts: [] })),
        },
        // A real outage: traffic piles up behind the open circuit; it pages 10 minutes after more than 10 jobs are
        // held (minute 3 here: 2 + 3 per minute), not before.
        {
          interval: '1m',
          input_series: series('1x120', '0+2x120', '0+3x120'),
          alert_rule_test: [
            { eval_time: '12m', alertname: 'FiscalCircuitOpen', exp_alerts: [] },
            { eval_time: '14m', alertname: 'FiscalCircuitOpen', exp_alerts: firing },
            { eval_time: '2h', alertname: 'FiscalCircuitOpen', exp_alerts: firing },
          ],
        },
      ],
    };
    const file = join(dir, 'circuit-open.test.yml');
    writeFileSync(file, stringify(tests));
    try {
      const run = promtool('test', 'rules', file);
      expect(run.status, run.output).toBe(0);
      expect(run.output).toContain('SUCCESS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('promtool check config deploy/prometheus/prometheus.yml (with its rule file)', () => {
    const run = promtool('check', 'config', 'deploy/prometheus/prometheus.yml');
    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain('SUCCESS: 1 rule files found');
  });
});

describe.skipIf(!HAVE_PROMETHEUS)(
  `dashboard and alert PromQL on a real Prometheus after real traffic${HAVE_PROMETHEUS ? '' : ` (SKIPPED: prometheus is not installed; ${INSTALL})`}`,
  () => {
    let api: Harness;
    let worker: Harness | undefined;
    let prom: PrometheusServer;
    let receiver: Receiver;
    let trafficStart = 0;
    const expected = { finished: 0, dead: 0 };
    /** Result callbacks (issue 17): the receiver answers 410 to one record, 503 to two until released, 200 otherwise. */
    const callbacks = { gone: new Set<string>(), flaky: new Set<string>(), refusedFlaky: new Set<string>(), released: false, failedAnswers: 0 };

    beforeAll(async () => {
      receiver = await startReceiver();
      receiver.respond = (callback) => {
        const id = String((JSON.parse(callback.body) as { id?: unknown }).id);
        const status = callbacks.gone.has(id) ? 410 : callbacks.flaky.has(id) && !callbacks.released ? 503 : 200;
        if (status !== 200) callbacks.failedAnswers++;
        if (status === 503) callbacks.refusedFlaky.add(id);
        return status;
      };
      const env = {
        CALLBACK_URL: `${receiver.url}/fiscal-callbacks`,
        CALLBACK_SECRET: 'prometheus-test-callback-secret',
        RETRY_ATTEMPTS: '3',
        PROVIDER_TIMEOUT_MS: '500',
        // Three different anor jobs failing in a row open its circuit; the probe 2 s later closes it again: long enough
        // for a 1 s scrape to see fiscal_provider_circuit_open = 1.
        CIRCUIT_THRESHOLD: '3',
        CIRCUIT_PROBE_MS: '2000',
      };
      api = await startHarness({ mode: 'api', env });
      // The worker's port is known before it starts, so Prometheus scrapes it (up == 0) while nothing consumes.
      const workerPort = await freePort();
      prom = await startPrometheus({
        jobs: { 'fiscal-api': [targetOf(api.url)], 'fiscal-worker': [`127.0.0.1:${workerPort}`] },
        ruleFiles: [join(REPO_ROOT, ALERTS_FILE)],
        scrapeInterval: '1s',
        evaluationInterval: '1s',
      });
      trafficStart = Date.now() / 1000;
      const t = randomUUID().slice(0, 8);

      // Phase 1, no worker yet: a backlog builds up (queue depth, oldest waiting job, FiscalNoWorkerConsuming).
      const backlog = [
        ...mix(`${t}a`),
        // The only anor jobs for now. Retry-After 2 s keeps each job's retry from closing the circuit before the third
        // failure opened it; then the probe (CIRCUIT_PROBE_MS later) succeeds and closes it.
        ...confirmations('anor', 's503x1_ra2', 3, t),
      ];
      const first = await post(api, backlog);
      expect(first.map((r) => r.status)).toEqual(backlog.map(() => 202));
      await prom.waitForData('max(fiscal_queue_oldest_waiting_seconds) > 0');
      await prom.waitForData('up{job="fiscal-worker"} == 0');
      await prom.waitForData('ALERTS{alertname="FiscalNoWorkerConsuming",alertstate="pending"}');

      // Phase 2: the worker starts and drains the backlog; the anor circuit opens and closes.
      worker = await startHarness({
        mode: 'worker',
        sandbox: false,
        env: { ...env, QUEUE_PREFIX: api.prefix, METRICS_PORT: String(workerPort), FISCALBOX_BASE_URL: api.sandbox.url },
      });
      await prom.waitForData('max_over_time(fiscal_provider_circuit_open{provider="anor"}[1m]) == 1');
      await settle(api, first.map((r) => r.id));
      // The backlog drains within the worker's first scrape interval, and rate() never counts a series' first sample:
      // the same traffic again, once Prometheus holds every series the first round created, makes every rate move.
      await prom.waitForData(`sum(fiscal_jobs_finished_total{job="fiscal-worker"}) == ${backlog.length}`);

      // Phase 3, the worker up: the mix again, the remaining anor outcomes, the enqueue results other than created, and
      // callbacks that fail: one receiver answer 410 (a dead callback), two 503 until Prometheus saw them wait.
      const gone = confirmations('payme', '', 1, `${t}cbgone`);
      const flaky = confirmations('uzum', '', 2, `${t}cbflaky`);
      for (const c of gone) callbacks.gone.add(`${c.provider}.${c.key}`);
      for (const c of flaky) callbacks.flaky.add(`${c.provider}.${c.key}`);
      const more = [
        ...mix(`${t}b`),
        ...confirmations('anor', '', 2, t),
        ...confirmations('anor', 'reject', 1, t),
        ...confirmations('anor', 's404', 1, t), // client error
        ...gone,
        ...flaky,
      ];
      const second = await post(api, more);
      expect(second.map((r) => r.status)).toEqual(more.map(() => 202));
      // Released once each flaky record's callback was refused and Prometheus saw callbacks wait: the delayed gauge
      // alone can move before a flaky callback is first sent (a busy machine did that once), leaving nothing to retry.
      await waitUntil(() => callbacks.refusedFlaky.size, (n) => n === flaky.length, 60_000, 'a 503 for each flaky callback');
      await prom.waitForData('max(fiscal_callback_queue_jobs{state="delayed"}) > 0');
      callbacks.released = true;
      expect((await api.post('/v1/confirmations', confirmationBody(backlog[0]!))).status).toBe(200); // duplicate
      expect((await api.post('/v1/confirmations', confirmationBody({ ...backlog[0]!, qrCode: OTHER_QR }))).status).toBe(409);
      const invalid = { provider: 'uzum', payment_id: `bad-${t}`, qr_code: QR.replace('ofd.soliq.uz', 'example.com') };
      expect((await api.post('/v1/confirmations', invalid)).status).toBe(400);
      await settle(api, second.map((r) => r.id));

      // Prometheus has caught up when it holds the final counts, from both processes, with enough samples for rate().
      expected.finished = backlog.length + more.length;
      expected.dead = 2 * MIX_DEAD + 2; // + anor reject and s404
      await prom.waitForData(`sum(fiscal_jobs_finished_total) == ${expected.finished}`);
      await prom.waitForData(`sum(fiscal_jobs_finished_total{state="dead"}) == ${expected.dead}`);
      await prom.waitForData('sum(fiscal_enqueued_total{result=~"duplicate|conflict|invalid"}) == 3');
      await prom.waitForData(`sum(fiscal_queue_jobs{state="dead"}) == ${expected.dead}`);
      await prom.waitForData('min by (job) (count_over_time(fiscal_attempts_total[1m])) >= 2');
      await prom.waitForData('ALERTS{alertname="FiscalDeadLettersIncreasing",alertstate="firing"}');
      // Every record's end was called back: delivered for all but the 410 one, which is the one dead callback.
      await prom.waitForData(`sum(fiscal_callbacks_total{result="delivered"}) == ${expected.finished - 1}`);
      await prom.waitForData(`sum(fiscal_callbacks_total{result="failed"}) == ${callbacks.failedAnswers}`);
      await prom.waitForData('max(fiscal_callback_queue_jobs{state="dead"}) == 1');
      await prom.waitForData('ALERTS{alertname="FiscalCallbacksDeadLettered",alertstate="firing"}');
    }, 60_000);

    afterAll(async () => {
      await prom?.stop();
      await worker?.close();
      await api?.close();
      await receiver?.close();
    });

    it('saw the traffic: exact totals, both processes up, Redis up at scrape time', async () => {
      const value = async (expr: string) => Number((await prom.query(expr)).result[0]?.value?.[1]);
      expect(await value('sum(fiscal_jobs_finished_total)')).toBe(expected.finished);
      expect(await value('sum(fiscal_jobs_finished_total{state="succeeded"})')).toBe(expected.finished - expected.dead);
      expect(await value('sum(fiscal_enqueued_total{result="created"})')).toBe(expected.finished);
      expect(await value('sum(fiscal_enqueued_total{result=~"duplicate|conflict|invalid"})')).toBe(3);
      // One attempt per provider call, whichever process made it.
      expect(await value('sum(fiscal_attempts_total)')).toBe(api.sandbox.calls().length);
      expect(await value('sum(up)')).toBe(2);
      expect(await value('fiscal_redis_up{job="fiscal-api"}')).toBe(1);
      // Result callbacks: one delivered per finished record but the 410 one; one failed per non-2xx answer.
      const delivered = await value('sum(fiscal_callbacks_total{result="delivered"})');
      const failed = await value('sum(fiscal_callbacks_total{result="failed"})');
      expect(delivered).toBe(expected.finished - 1);
      expect(failed).toBe(callbacks.failedAnswers);
      expect(failed).toBeGreaterThanOrEqual(3); // the 410 and at least one 503 for each flaky record
      expect(receiver.received.length).toBe(delivered + failed);
      expect(await value('max(fiscal_callback_queue_jobs{state="dead"})')).toBe(1);
      const peak = async (expr: string) => +(await value(`max_over_time((${expr})[5m:1s])`)).toFixed(3);
      const peaks = {
        delivered_per_s: await peak('sum(rate(fiscal_callbacks_total{result="delivered"}[1m]))'),
        failed_per_s: await peak('sum(rate(fiscal_callbacks_total{result="failed"}[1m]))'),
        delayed: await peak('max(fiscal_callback_queue_jobs{state="delayed"})'),
      };
      console.info(`[prometheus] callbacks: delivered ${delivered}, failed ${failed} (receiver got ${receiver.received.length}), dead 1; peaks ${JSON.stringify(peaks)}`);
    });

    // "Returns data": an instant query now, a few seconds after the traffic, must succeed with a non-empty result.
    // Dashboard series exported at 0 (zero-initialised counters, circuit gauges) would pass that on their own, so each
    // target must also have shown a finite value above zero at some point of the traffic (a range query over it),
    // unless NOT_MOVED_BY_THIS_TRAFFIC says why it cannot.
    it.each(dashboardQueries.map((q): [string, string] => [q.source, q.expr]))('%s returns data', async (source, expr) => {
      const now = await prom.query(expr);
      expect(now.status, `${expr}: ${now.error}`).toBe('success');
      expect(now.result.length, expr).toBeGreaterThan(0);

      const range = await prom.queryRange(expr, Math.floor(trafficStart), Math.ceil(Date.now() / 1000), 1);
      expect(range.status, `${expr}: ${range.error}`).toBe('success');
      const moved = range.result.some((series) => (series.values ?? []).some(([, v]) => Number.isFinite(Number(v)) && Number(v) > 0));
      if (source in NOT_MOVED_BY_THIS_TRAFFIC) return;
      expect(moved, `${source} never rose above 0 during the traffic: ${expr}`).toBe(true);
    });

    // Alert expressions are conditions: empty means "not firing", which is the right answer for most of them now. So
    // the full expression must be a valid, successful query; what it compares (alertOperands: the expression without
    // its comparisons against a number, split at and/or/unless) must return data, so no alert is blind; and
    // Prometheus's own rule evaluation (/api/v1/rules) must report every rule healthy.
    it.each(alertRules.map((rule): [string, string] => [rule.alert ?? '', rule.expr]))(
      'alert %s: a valid query whose operands all return data',
      async (_name, expr) => {
        const full = await prom.query(expr);
        expect(full.status, `${expr}: ${full.error}`).toBe('success');
        const operands = alertOperands(expr);
        expect(operands.length).toBeGreaterThan(0);
        for (const operand of operands) {
          const answer = await prom.query(operand);
          expect(answer.status, `${operand}: ${answer.error}`).toBe('success');
          expect(answer.result.length, `no data for ${operand}`).toBeGreaterThan(0);
        }
      },
    );

    it('evaluates every rule of alerts.yml itself, healthy, and fired the ones the traffic calls for', async () => {
      const rules = await prom.rules();
      expect(rules.map((rule) => rule.name).sort()).toEqual(allRules.map((rule) => rule.alert ?? rule.record).sort());
      for (const rule of rules) {
        expect(rule.health, `${rule.name}: ${rule.lastError ?? ''}`).toBe('ok');
        expect(Date.parse(rule.lastEvaluation) / 1000, rule.name).toBeGreaterThan(trafficStart);
      }
      // New dead letters fire at once (no `for`); the backlog without a worker went pending (its `for` is 5m).
      const seen = await prom.query('max_over_time(ALERTS[5m])');
      const alerts = seen.result.map((s) => `${s.metric.alertname}/${s.metric.alertstate}`);
      expect(alerts).toContain('FiscalDeadLettersIncreasing/firing');
      expect(alerts).toContain('FiscalNoWorkerConsuming/pending');
      expect(alerts).toContain('FiscalCallbacksDeadLettered/firing');
      expect(alerts).not.toContain('FiscalApiDown/pending');
      expect(alerts).not.toContain('FiscalRedisUnreachable/pending');
    });
  },
);
