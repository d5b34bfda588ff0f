import { existsSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, isLoopbackHost, loadConfig } from '../../src/config/env.js';
import { startupProblems } from '../../src/config/production.js';
import {
  appServices,
  ComposeInterpolationError,
  compose,
  DEMO_ENV,
  dockerfile,
  effectiveCommand,
  effectiveEnv,
  imageEnv,
  jsonArgs,
  last,
  publishedPorts,
  readText,
  readYaml,
  repoPath,
  runtimeStage,
  type Service,
  service,
  serviceEnvironment,
  services,
  words,
} from '../helpers/compose.js';
import {
  type AlertRule,
  dashboardAndAlertQueries,
  dashboardPanels,
  GRAFANA_VARIABLES,
  readAlertRules,
  readDashboard,
} from '../helpers/deploy-queries.js';

// The deployment files (Dockerfile, docker-compose.yml, deploy/) against CONTRACT §1 (commands), §2 (environment)
// and §6 (metrics). No Docker, no network: the files are parsed and cross-checked.

const COMMANDS = ['serve', 'api', 'worker', 'sandbox'];
const HTTP_COMMANDS = ['serve', 'api'];

/** CONTRACT §6: metric → labels → allowed values (undefined: any value). */
const METRICS: Record<string, { histogram?: true; labels: Record<string, readonly string[] | undefined> }> = {
  fiscal_enqueued_total: { labels: { provider: undefined, result: ['created', 'duplicate', 'conflict', 'invalid'] } },
  fiscal_attempts_total: {
    labels: { provider: undefined, class: ['success', 'rejected', 'retryable', 'client_error', 'ambiguous'] },
  },
  fiscal_jobs_finished_total: { labels: { provider: undefined, state: ['succeeded', 'dead'] } },
  fiscal_provider_request_duration_seconds: { histogram: true, labels: { provider: undefined, code: undefined } },
  fiscal_job_duration_seconds: { histogram: true, labels: { provider: undefined, state: ['succeeded', 'dead'] } },
  fiscal_queue_jobs: { labels: { provider: undefined, state: ['waiting', 'active', 'delayed', 'dead'] } },
  fiscal_queue_oldest_waiting_seconds: { labels: { provider: undefined } },
  fiscal_provider_circuit_open: { labels: { provider: undefined } },
  fiscal_callbacks_total: { labels: { result: ['delivered', 'failed'] } },
  // Beyond §6 (README "Result callbacks"): the callbacks queue, kept out of fiscal_queue_jobs so `provider` keeps its values.
  fiscal_callback_queue_jobs: { labels: { state: ['waiting', 'active', 'delayed', 'dead'] } },
  fiscal_redis_up: { labels: {} }, // set by /readyz of serve/api
};
const PROVIDERS = ['payme', 'uzum', 'anor', 'payme_go', 'freedompay'];
const NODE_DEFAULT_METRICS = [
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_heap_size_used_bytes',
];
const TARGET_LABELS = ['job', 'instance'];

// ---- docker-compose.yml ------------------------------------------------------------------------------------------

/** Short (`./src:/dst:ro`) and long syntax; a source starting with `.`, `/` or `~` is a bind mount. */
function mounts(svc: Service): { bind: boolean; source: string; target: string }[] {
  return (svc.volumes ?? []).map((volume) => {
    if (typeof volume === 'string') {
      const [source = '', target = ''] = volume.split(':');
      return { bind: /^[./~]/.test(source), source, target };
    }
    return { bind: volume.type === 'bind', source: volume.source ?? '', target: volume.target ?? '' };
  });
}

function bindSource(svc: Service, target: string): string | undefined {
  return mounts(svc).find((mount) => mount.bind && mount.target === target)?.source;
}

function flag(args: readonly string[], name: string): string | undefined {
  for (const [i, arg] of args.entries()) {
    if (arg === name) return args[i + 1];
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
  }
  return undefined;
}

const seconds = (duration: string) => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(duration.trim());
  if (!match) throw new Error(`not a duration: ${duration}`);
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] as 'ms' | 's' | 'm' | 'h'];
};

// ---- Dockerfile --------------------------------------------------------------------------------------------------

const pkg = JSON.parse(readText('package.json')) as { bin: string | Record<string, string>; engines?: { node?: string } };
const binPath = posix.normalize(typeof pkg.bin === 'string' ? pkg.bin : (pkg.bin['fiscal-worker'] ?? ''));

/** A service's environment for the demo (`--env-file deploy/demo.env`): the one whose values are complete. */
const demoEnv = (svc: Service) => effectiveEnv(svc, DEMO_ENV);

// ---- Prometheus --------------------------------------------------------------------------------------------------

interface ScrapeConfig {
  job_name: string;
  static_configs?: { targets: string[] }[];
  dns_sd_configs?: { names: string[]; type?: string; port?: number }[];
}
const prometheus = readYaml<{ global?: { scrape_interval?: string }; rule_files?: string[]; scrape_configs: ScrapeConfig[] }>(
  'deploy/prometheus/prometheus.yml',
);
const scrapeJob = (name: string) => {
  const job = prometheus.scrape_configs.find((config) => config.job_name === name);
  if (!job) throw new Error(`prometheus.yml has no job "${name}"`);
  return job;
};

// ---- PromQL ------------------------------------------------------------------------------------------------------

const METRIC_OF_SERIES = (name: string) => {
  if (METRICS[name]) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return METRICS[base]?.histogram ? base : undefined;
};

/** `metric{a="b",c=~"d"}` selectors of fiscal metrics, with their matchers. */
function fiscalSelectors(expr: string) {
  return [...expr.matchAll(/\b(fiscal_[a-z_]+)\s*(?:\{([^}]*)\})?/g)].map((match) => ({
    name: match[1] ?? '',
    matchers: [...(match[2] ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map((m) => ({
      label: m[1] ?? '',
      op: m[2] ?? '',
      value: m[3] ?? '',
    })),
  }));
}

const allLabels = new Set([...Object.values(METRICS).flatMap((metric) => Object.keys(metric.labels)), ...TARGET_LABELS, 'le']);

describe('Dockerfile', () => {
  it('builds in one stage and runs production dependencies plus dist/ in another', () => {
    expect(dockerfile.filter((instruction) => instruction.keyword === 'FROM').length).toBeGreaterThanOrEqual(2);
    const runs = dockerfile.filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.args);
    expect(runs.some((run) => /npm ci(?!.*--omit=dev)/.test(run))).toBe(true);
    expect(runs.some((run) => run.includes('npm run build'))).toBe(true);
    expect(runs.some((run) => run.includes('npm ci --omit=dev'))).toBe(true);
  });

  it('uses a Node base image the package supports', () => {
    const args = Object.fromEntries(
      dockerfile
        .slice(0, dockerfile.findIndex((instruction) => instruction.keyword === 'FROM'))
        .filter((instruction) => instruction.keyword === 'ARG')
        .map((instruction) => instruction.args.split('=') as [string, string]),
    );
    const minimum = Number(/(\d+)/.exec(pkg.engines?.node ?? '20')?.[1]);
    for (const from of dockerfile.filter((instruction) => instruction.keyword === 'FROM')) {
      const image = (from.args.split(/\s+/)[0] ?? '').replace(/\$\{(\w+)\}/g, (_, name: string) => args[name] ?? '');
      const major = Number(/^node:(\d+)/.exec(image)?.[1]);
      expect(major, image).toBeGreaterThanOrEqual(minimum);
    }
  });

  it('runs as a non-root user', () => {
    const user = last('USER')?.args.split(':')[0];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('has tini as PID 1 in front of the package bin, and `serve` as default command', () => {
    const entrypoint = jsonArgs(last('ENTRYPOINT'));
    expect(entrypoint?.[0]).toMatch(/(^|\/)tini$/);
    expect(entrypoint?.[1]).toBe('--');
    expect(entrypoint?.[2]).toBe('node');
    expect(posix.normalize(entrypoint?.[3] ?? '')).toBe(binPath);
    expect(runtimeStage.some((instruction) => instruction.keyword === 'RUN' && instruction.args.includes('tini'))).toBe(true);
    expect(jsonArgs(last('CMD'))).toEqual(['serve']);
  });

  it('copies the compiled bin where the entrypoint expects it', () => {
    const workdir = last('WORKDIR')?.args ?? '/';
    const distDir = posix.join(workdir, posix.dirname(binPath));
    const copied = runtimeStage
      .filter((instruction) => instruction.keyword === 'COPY' && instruction.args.includes('--from='))
      .map((instruction) => posix.resolve(workdir, instruction.args.split(/\s+/).at(-1) ?? ''));
    expect(copied).toContain(distDir);
    // "type": "module" of package.json is what makes Node load dist/*.js as ESM.
    const copiesPackageJson = runtimeStage.some(
      (instruction) => instruction.keyword === 'COPY' && /(^|\s)package\.json\s/.test(instruction.args),
    );
    expect(copiesPackageJson).toBe(true);
  });

  it('checks its own health without curl and listens on all interfaces', () => {
    const healthcheck = last('HEALTHCHECK');
    expect(healthcheck?.args).toMatch(/\bCMD\b/);
    expect(healthcheck?.args).toContain('/healthz');
    expect(healthcheck?.args).not.toMatch(/\bcurl\b|\bwget\b/);
    expect(imageEnv).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
  });

  it('keeps local state out of the build context, but not what the build copies', () => {
    const ignored = readText('.dockerignore').split('\n').map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git', 'coverage', '.env']));
    const copiedFromContext = dockerfile
      .filter((instruction) => instruction.keyword === 'COPY' && !instruction.args.includes('--from='))
      .flatMap((instruction) => instruction.args.split(/\s+/).filter((arg) => !arg.startsWith('--')).slice(0, -1));
    for (const source of copiedFromContext) {
      expect(existsSync(repoPath(source)), source).toBe(true);
      expect(ignored, source).not.toContain(posix.normalize(source).split('/')[0]);
    }
  });
});

describe('docker-compose.yml', () => {
  it('is a Compose spec file with the whole stack', () => {
    expect(compose.version).toBeUndefined();
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['redis', 'sandbox', 'api', 'worker', 'prometheus', 'grafana']),
    );
  });

  it('mounts only host paths that exist in the repository, and declares its named volumes', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const mount of mounts(svc)) {
        if (mount.bind) expect(existsSync(repoPath(mount.source)), `${name}: ${mount.source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: ${mount.source}`).toContain(mount.source);
      }
      const build = typeof svc.build === 'string' ? { context: svc.build } : svc.build;
      if (build) {
        expect(existsSync(repoPath(join(build.context ?? '.', build.dockerfile ?? 'Dockerfile'))), name).toBe(true);
      }
    }
  });

  it('depends only on services it defines', () => {
    for (const [name, svc] of Object.entries(services)) {
      const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
      for (const dep of deps) expect(Object.keys(services), `${name} → ${dep}`).toContain(dep);
    }
  });

  it('runs one of the CONTRACT §1 long-running commands in every app container', () => {
    expect(appServices.map(([name]) => name)).toEqual(expect.arrayContaining(['sandbox', 'api', 'worker']));
    for (const [name, svc] of appServices) {
      expect(COMMANDS, name).toContain(effectiveCommand(svc)[0]);
    }
  });

  it('gives every app container of the demo an environment the config loader and the start-up rules accept', () => {
    for (const [name, svc] of appServices) {
      const servesApi = HTTP_COMMANDS.includes(effectiveCommand(svc)[0] ?? '');
      expect(() => loadConfig(demoEnv(svc), (config) => startupProblems(config, servesApi)), name).not.toThrow();
    }
  });

  it('sets API tokens and Bull Board credentials wherever the HTTP server binds a non-loopback HOST (demo)', () => {
    const httpServices = appServices.filter(([, svc]) => HTTP_COMMANDS.includes(effectiveCommand(svc)[0] ?? ''));
    expect(httpServices.map(([name]) => name)).toContain('api');
    for (const [name, svc] of httpServices) {
      const env = demoEnv(svc);
      if (isLoopbackHost(env.HOST ?? '127.0.0.1')) continue;
      const config = loadConfig(env);
      expect(config.apiTokens.length, `${name}: API_TOKENS`).toBeGreaterThan(0);
      expect(config.board.username, `${name}: BOARD_USERNAME`).not.toBe('');
      expect(config.board.password, `${name}: BOARD_PASSWORD`).not.toBe('');
    }
  });

  it('points the app at the compose Redis, and at the sandbox only in the demo', () => {
    const sandboxArgs = words(service('sandbox').command);
    expect(sandboxArgs[0]).toBe('sandbox');
    expect(isLoopbackHost(flag(sandboxArgs, '--host') ?? '127.0.0.1')).toBe(false);
    const sandboxPort = flag(sandboxArgs, '--port');
    for (const name of ['api', 'worker']) {
      const config = loadConfig(demoEnv(service(name)));
      expect(new URL(config.redisUrl).hostname, name).toBe('redis');
      expect(config.sandboxProviders, name).toBe(true);
      for (const base of [config.fiscalbox.baseUrl, config.freedompay.baseUrl]) {
        const url = new URL(base);
        expect(`${url.hostname}:${url.port}`, `${name}: ${base}`).toBe(`sandbox:${sandboxPort}`);
      }
      // Without the demo's env file nothing points at the sandbox: FiscalBox must be given, Freedom Pay is the real one.
      const production = serviceEnvironment(service(name));
      expect(production.FISCALBOX_BASE_URL, name).toBe('');
      expect(production.FREEDOMPAY_BASE_URL, name).toMatch(/^https:\/\//);
      expect(production.SANDBOX_PROVIDERS, name).toBe('false');
      expect(JSON.stringify(production), name).not.toContain('sandbox:');
    }
  });

  it('keeps the sandbox and the demo traffic behind the demo profile, and everything else in every profile', () => {
    const demoOnly = Object.entries(services).filter(([, svc]) => svc.profiles !== undefined).map(([name]) => name).sort();
    expect(demoOnly).toEqual(['demo-traffic', 'sandbox']);
    for (const name of demoOnly) expect(service(name).profiles, name).toEqual(['demo']);
    expect(DEMO_ENV.COMPOSE_PROFILES).toBe('demo');
    // A service in every profile may wait for a demo-only one, but must not need it (Compose would refuse the model).
    for (const [name, svc] of Object.entries(services)) {
      if (svc.profiles !== undefined || Array.isArray(svc.depends_on)) continue;
      for (const [dep, condition] of Object.entries(svc.depends_on ?? {})) {
        if (service(dep).profiles !== undefined) expect(condition.required, `${name} → ${dep}`).toBe(false);
      }
    }
  });

  it('has no credential defaults: without an env file every secret is empty and Grafana refuses to render', () => {
    const SECRET = /TOKEN|PASSWORD|SECRET|KEY/;
    for (const [name, svc] of Object.entries(services)) {
      if (name === 'grafana') continue;
      for (const [key, value] of Object.entries(serviceEnvironment(svc))) {
        if (SECRET.test(key)) expect(value, `${name}: ${key}`).toBe('');
      }
    }
    expect(() => serviceEnvironment(service('grafana'))).toThrow(ComposeInterpolationError);
    expect(() => serviceEnvironment(service('grafana'))).toThrow(/GRAFANA_ADMIN_PASSWORD/);
    expect(serviceEnvironment(service('grafana'), { GRAFANA_ADMIN_PASSWORD: 'x' }).GF_SECURITY_ADMIN_PASSWORD).toBe('x');
  });

  it('the production services refuse to start with the defaults, naming what is missing (rendered config)', () => {
    const refusal = (name: string): string[] => {
      const servesApi = HTTP_COMMANDS.includes(effectiveCommand(service(name))[0] ?? '');
      try {
        loadConfig(effectiveEnv(service(name)), (config) => startupProblems(config, servesApi));
      } catch (err) {
        if (err instanceof ConfigError) return err.problems.map((problem) => problem.slice(0, problem.indexOf(':')));
        throw err;
      }
      return [];
    };
    expect(refusal('api')).toEqual(['FISCALBOX_BASE_URL', 'API_TOKENS', 'BOARD_USERNAME', 'BOARD_PASSWORD']);
    expect(refusal('worker')).toEqual(['FISCALBOX_BASE_URL']);
    // The image is what makes them production: without NODE_ENV=production the same environment would start.
    expect(imageEnv.NODE_ENV).toBe('production');
  });

  it('publishes Prometheus and Grafana on loopback only, and everything of the demo too', () => {
    for (const name of ['prometheus', 'grafana']) {
      const ports = publishedPorts(service(name));
      expect(ports.length, name).toBeGreaterThan(0);
      for (const port of ports) expect(port.hostIp, name).toBe('127.0.0.1');
    }
    for (const [name, svc] of Object.entries(services)) {
      for (const port of publishedPorts(svc, DEMO_ENV)) expect(port.hostIp, `${name} (demo)`).toBe('127.0.0.1');
    }
    // The API is what the sales system calls: published, and protected by the start-up rules above.
    expect(publishedPorts(service('api'))).toEqual([{ hostIp: '0.0.0.0', published: '3000', target: '3000' }]);
  });

  it('runs Prometheus without its lifecycle and admin APIs', () => {
    const args = words(service('prometheus').command);
    expect(args.some((arg) => /^--web\.enable-(lifecycle|admin-api)\b/.test(arg)), args.join(' ')).toBe(false);
  });

  it('runs Redis with AOF persistence and without eviction', () => {
    const redis = service('redis');
    const args = words(redis.command);
    expect(flag(args, '--appendonly')).toBe('yes');
    expect(flag(args, '--maxmemory-policy')).toBe('noeviction');
    expect(mounts(redis).map((mount) => mount.target)).toContain('/data');
    expect(words(redis.healthcheck?.test).join(' ')).toContain('redis-cli ping');
  });

  it('lets workers scale: no container name and no fixed host port', () => {
    const worker = service('worker');
    expect(effectiveCommand(worker)[0]).toBe('worker');
    expect(worker.container_name).toBeUndefined();
    for (const port of worker.ports ?? []) {
      const published = typeof port === 'object' ? port.published : String(port).split(':').length > 1;
      expect(published, String(port)).toBeFalsy();
    }
  });

  it('gives the HTTP server and the workers longer than SHUTDOWN_TIMEOUT_MS to drain', () => {
    for (const name of ['api', 'worker']) {
      const svc = service(name);
      const config = loadConfig(demoEnv(svc));
      expect(seconds(svc.stop_grace_period ?? '10s') * 1000, name).toBeGreaterThan(config.shutdownTimeoutMs);
    }
  });

  it('health-checks each app container on the port its command listens on', () => {
    const api = service('api');
    expect(words(api.healthcheck?.test).join(' ')).toContain(`:${loadConfig(demoEnv(api)).port}/`);
    const worker = service('worker');
    expect(words(worker.healthcheck?.test).join(' ')).toContain(`:${loadConfig(demoEnv(worker)).metricsPort}/healthz`);
    const sandboxPort = flag(words(service('sandbox').command), '--port');
    expect(words(service('sandbox').healthcheck?.test).join(' ')).toContain(String(sandboxPort));
  });
});

describe('Prometheus', () => {
  const prom = service('prometheus');
  const configFile = flag(words(prom.command), '--config.file') ?? '/etc/prometheus/prometheus.yml';

  it('loads deploy/prometheus/prometheus.yml and finds its rule files next to it in the container', () => {
    expect(bindSource(prom, configFile)).toMatch(/^(\.\/)?deploy\/prometheus\/prometheus\.yml$/);
    expect(prometheus.rule_files).toContain('alerts.yml');
    for (const ruleFile of prometheus.rule_files ?? []) {
      const inContainer = posix.resolve(posix.dirname(configFile), ruleFile);
      const source = bindSource(prom, inContainer);
      expect(source, inContainer).toBeDefined();
      expect(statSync(repoPath(source ?? '')).isFile()).toBe(true);
      expect(existsSync(repoPath(join('deploy/prometheus', ruleFile))), ruleFile).toBe(true);
    }
  });

  it('scrapes every 5 seconds', () => {
    expect(prometheus.global?.scrape_interval).toBe('5s');
  });

  it('scrapes the API on its PORT', () => {
    const port = loadConfig(demoEnv(service('api'))).port;
    expect(scrapeJob('fiscal-api').static_configs?.flatMap((config) => config.targets)).toEqual([`api:${port}`]);
  });

  it('discovers every worker replica through Docker DNS on METRICS_PORT', () => {
    const port = loadConfig(demoEnv(service('worker'))).metricsPort;
    expect(scrapeJob('fiscal-worker').dns_sd_configs).toEqual([
      expect.objectContaining({ names: ['worker'], type: 'A', port }),
    ]);
  });
});

describe('alert rules', () => {
  const rules = readAlertRules();
  const alerts = rules.filter((rule) => rule.alert !== undefined);

  it('cover the failure modes operators act on', () => {
    expect(alerts.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'FiscalDeadLettersIncreasing',
        'FiscalBacklogOld',
        'FiscalProviderErrorRatioHigh',
        'FiscalNoWorkerConsuming',
        'FiscalRedisUnreachable',
        'FiscalCircuitOpen',
        'FiscalApiDown',
      ]),
    );
  });

  const alertCases = alerts.map((rule): [string, AlertRule] => [rule.alert ?? '', rule]);
  it.each(alertCases)('%s has a severity, a summary, a description and a runbook', (_, rule) => {
    expect(['critical', 'warning', 'info']).toContain(rule.labels?.severity);
    for (const key of ['summary', 'description', 'runbook']) {
      expect(rule.annotations?.[key]?.trim(), key).toBeTruthy();
    }
    expect(rule.annotations?.runbook).toContain('/admin/queues');
    if (rule.for !== undefined) expect(seconds(rule.for)).toBeGreaterThan(0);
  });

  it('alerts on Redis through fiscal_redis_up and on the API through its scrape job', () => {
    const expr = (name: string) => alerts.find((rule) => rule.alert === name)?.expr ?? '';
    expect(expr('FiscalRedisUnreachable')).toContain('fiscal_redis_up');
    expect(expr('FiscalApiDown')).toMatch(/up\{job="fiscal-api"\}/);
  });
});

describe('Grafana', () => {
  const grafana = service('grafana');
  const dashboard = readDashboard();
  const panels = dashboardPanels();

  it('provisions the Prometheus datasource by uid and the dashboards directory it mounts', () => {
    expect(bindSource(grafana, '/etc/grafana/provisioning')).toMatch(/^(\.\/)?deploy\/grafana\/provisioning$/);
    const datasources = readYaml<{ datasources: { uid: string; type: string; url: string }[] }>(
      'deploy/grafana/provisioning/datasources/prometheus.yml',
    ).datasources;
    expect(datasources).toEqual([
      expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' }),
    ]);
    expect(words(service('prometheus').ports?.map(String)).join(' ')).toContain(':9090');

    const providers = readYaml<{ providers: { type: string; options: { path: string } }[] }>(
      'deploy/grafana/provisioning/dashboards/fiscal.yml',
    ).providers;
    expect(providers).toHaveLength(1);
    const path = providers[0]?.options.path ?? '';
    expect(providers[0]?.type).toBe('file');
    const source = bindSource(grafana, path);
    expect(source, path).toBeDefined();
    expect(existsSync(repoPath(join(source ?? '', 'fiscal-worker.json')))).toBe(true);
  });

  it('has a current dashboard with a multi-value provider variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toBe('fiscal-worker');
    const variables = (dashboard.templating as { list: Record<string, unknown>[] }).list;
    const provider = variables.find((variable) => variable.name === 'provider');
    expect(provider).toMatchObject({ type: 'query', includeAll: true, allValue: '.*', datasource: { uid: 'prometheus' } });
    expect(JSON.stringify(provider?.query)).toContain('label_values(fiscal_attempts_total, provider)');
  });

  it('gives every panel a Prometheus query on the provisioned datasource', () => {
    expect(panels.length).toBeGreaterThanOrEqual(15);
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
    for (const panel of panels) {
      const title = panel.title ?? String(panel.id);
      expect(panel.datasource?.uid, title).toBe('prometheus');
      expect(panel.targets?.some((target) => (target.expr ?? '').trim() !== ''), title).toBe(true);
      for (const target of panel.targets ?? []) expect(target.datasource?.uid ?? 'prometheus', title).toBe('prometheus');
    }
  });

  it('shows every CONTRACT §6 metric and the Node.js process metrics', () => {
    const exprs = panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr ?? '')).join('\n');
    for (const name of [...Object.keys(METRICS), ...NODE_DEFAULT_METRICS]) expect(exprs, name).toContain(name);
  });

  it('filters every provider-labelled series by $provider and uses no other Grafana variable', () => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const expr = target.expr ?? '';
        for (const [, name] of expr.matchAll(/\$\{?(\w+)/g)) {
          expect(Object.keys(GRAFANA_VARIABLES), `${panel.title}: $${name}`).toContain(name);
        }
        for (const selector of fiscalSelectors(expr)) {
          const metric = METRIC_OF_SERIES(selector.name);
          if (!metric || !('provider' in (METRICS[metric]?.labels ?? {}))) continue;
          expect(selector.matchers, `${panel.title}: ${selector.name}`).toContainEqual({
            label: 'provider',
            op: '=~',
            value: '$provider',
          });
        }
      }
    }
  });
});

describe('PromQL of the dashboard and the alerts', () => {
  const queries = dashboardAndAlertQueries();

  it('are all collected, with the Grafana variables replaced', () => {
    const alertCount = readAlertRules().length;
    const targetCount = dashboardPanels().flatMap((panel) => panel.targets ?? []).length;
    expect(queries).toHaveLength(alertCount + targetCount);
    for (const query of queries) expect(query.expr, query.source).not.toContain('$');
  });

  const queryCases = queries.map((query): [string, string] => [query.source, query.expr]);
  it.each(queryCases)('%s uses only CONTRACT §6 names, labels and values', (_, expr) => {
    for (const selector of fiscalSelectors(expr)) {
      const metric = METRIC_OF_SERIES(selector.name);
      expect(metric, selector.name).toBeDefined();
      const labels = METRICS[metric ?? '']?.labels ?? {};
      for (const { label, op, value } of selector.matchers) {
        if (TARGET_LABELS.includes(label)) continue;
        expect(Object.keys(labels), `${selector.name}{${label}}`).toContain(label);
        const allowed = label === 'provider' ? PROVIDERS : labels[label];
        if (allowed && (op === '=' || op === '!=')) expect(allowed, `${selector.name}{${label}="${value}"}`).toContain(value);
        if (allowed && (op === '=~' || op === '!~') && value !== '.*') {
          for (const alternative of value.split('|')) {
            expect(allowed, `${selector.name}{${label}=~"${value}"}`).toContain(alternative);
          }
        }
      }
    }
    for (const [, grouping] of expr.matchAll(/\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/g)) {
      for (const label of (grouping ?? '').split(',').map((part) => part.trim()).filter(Boolean)) {
        expect([...allLabels], `grouping label ${label}`).toContain(label);
      }
    }
    for (const [name] of expr.matchAll(/\b(?:process|nodejs)_[a-z0-9_]+/g)) expect(NODE_DEFAULT_METRICS).toContain(name);
    expect(expr.split('(').length, 'balanced parentheses').toBe(expr.split(')').length);
  });
});
