import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { PROVIDERS, type Provider } from '../domain/provider.js';

/** Thrown for an invalid environment; `main.ts` prints one line per problem and exits 78 (EX_CONFIG). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}


const splitList = (s: string) =>
  s
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
const csv = z.string().default('').transform(splitList);

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
  return z.coerce.number({ error: `must be ${range}` }).int(`must be ${range}`).min(min, `must be ${range}`).max(max, `must be ${range}`);
};

const url = (protocols: readonly string[]) =>
  z.string().superRefine((value, ctx) => {
    const expected = `a URL with protocol ${protocols.join(' or ')}`;
    // docker-compose.yml passes `${VAR:-}`: set but empty is a variable the deployment forgot.
    if (value === '') return ctx.addIssue({ code: 'custom', message: `is empty; set it to ${expected}` });
    let protocol: string | undefined;
    try {
      protocol = new URL(value).protocol;
    } catch {
      // not a URL
    }
    if (!protocol || !protocols.includes(protocol)) ctx.addIssue({ code: 'custom', message: `must be ${expected}` });
  });

const flag = z
  .enum(['true', 'false', '1', '0', ''], { error: 'must be true or false' })
  .default('false')
  .transform((v) => v === 'true' || v === '1');

const rateLimit = z.coerce.number({ error: 'must be a positive number of calls per second' }).positive('must be a positive number of calls per second').optional();

/** `RATE_LIMIT_<PROVIDER>` for every provider of the registry (CONTRACT §2). */
type RateLimitName = `RATE_LIMIT_${Uppercase<Provider>}`;
const rateLimitName = (provider: Provider) => `RATE_LIMIT_${provider.toUpperCase()}` as RateLimitName;
const RateLimits = z.object(Object.fromEntries(PROVIDERS.map((p) => [rateLimitName(p), rateLimit])) as Record<RateLimitName, typeof rateLimit>);

/** `QUEUE_SHARDS`: `<n>` for every confirmation provider, or `<provider>=<n>` pairs (issue 18). */
const MAX_SHARDS = 64;
function parseShards(value: string, ctx: z.RefinementCtx): { all?: number; byProvider: Partial<Record<Provider, number>> } {
  const out: { all?: number; byProvider: Partial<Record<Provider, number>> } = { byProvider: {} };
  const count = (text: string) => (/^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= MAX_SHARDS ? Number(text) : undefined);
  for (const part of splitList(value)) {
    const [name, n] = part.includes('=') ? part.split('=', 2).map((x) => x.trim()) : [undefined, part];
    const shards = count(n ?? '');
    if (shards === undefined) ctx.addIssue({ code: 'custom', message: `"${part}": a shard count must be an integer from 1 to ${MAX_SHARDS}` });
    else if (name === undefined) out.all = shards;
    else if ((PROVIDERS as readonly string[]).includes(name)) out.byProvider[name as Provider] = shards;
    else ctx.addIssue({ code: 'custom', message: `"${part}": ${name} is not a provider (${PROVIDERS.join(', ')})` });
  }
  return out;
}

/** A host name or IP address as a URL spells it, nothing else (no scheme, port or path). */
const HOST_NAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$|^[0-9a-f:.]*:[0-9a-f:.]*$/;
const hostList = () =>
  z
    .string()
    .default('')
    .transform((s) => splitList(s).map((host) => host.toLowerCase().replace(/^\[(.*)\]$/, '$1')))
    .superRefine((hosts, ctx) => {
      for (const host of hosts) {
        if (!HOST_NAME.test(host)) ctx.addIssue({ code: 'custom', message: `${host} is not a host name; list host names only (e.g. hooks.example.com), without scheme, port or path` });
      }
    });

/** `localhost`, 127.x.x.x or [::1]: the only hosts a callback may reach over plain http (issue 17, development). */
const isLoopbackUrlHost = (host: string) => host === 'localhost' || host === '[::1]' || (isIPv4(host) && host.startsWith('127.'));
const callbackUrl = z.string().refine(
  (value) => {
    if (value === '') return true;
    try {
      const url = new URL(value);
      return !url.username && !url.password && (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackUrlHost(url.hostname)));
    } catch {
      return false;
    }
  },
  { message: 'must be an https URL (http only to a loopback host such as 127.0.0.1), without user:password@' },
);

const Env = z.object({
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  // README "Redis Cluster": REDIS_URL is then one node of the cluster; ioredis discovers the others.
  REDIS_CLUSTER: flag,
  QUEUE_PREFIX: z
    .string()
    .min(1)
    .max(64, 'at most 64 characters')
    // No braces: on a Redis Cluster the product derives one hash tag per queue itself (infra/layout.ts).
    .regex(/^[A-Za-z0-9_.-]+$/, 'only letters, digits and _ . - are allowed (no braces: the product adds the Redis Cluster hash tags itself)')
    .default('fiscal'),
  QUEUE_SHARDS: z.string().default('').transform((value, ctx) => parseShards(value, ctx)),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(3000),
  METRICS_PORT: int(0, 65535).default(9464),
  API_TOKENS: csv,
  BOARD_USERNAME: z.string().default(''),
  BOARD_PASSWORD: z.string().default(''),
  FISCALBOX_BASE_URL: url(['http:', 'https:']).default('https://api.fiscalbox.uz'),
  FISCALBOX_TOKEN: z.string().default(''),
  FREEDOMPAY_BASE_URL: url(['http:', 'https:']).default('https://api.freedompay.uz'),
  FREEDOMPAY_MERCHANT_ID: z.string().default(''),
  FREEDOMPAY_SECRET_KEY: z.string().default(''),
  PROVIDER_TIMEOUT_MS: int(1).default(15_000),
  WORKER_CONCURRENCY: int(1, 10_000).default(50),
  // The attempt history lives on the job (capped at HISTORY_LIMIT entries), so the run's attempts must fit in it.
  RETRY_ATTEMPTS: int(1, 100).default(15),
  RETRY_BASE_MS: int(1).default(2000),
  RETRY_MAX_MS: int(1).default(3_600_000),
  CIRCUIT_THRESHOLD: int(1).default(5),
  CIRCUIT_PROBE_MS: int(1).default(5000),
  RETENTION_DAYS: z.coerce.number({ error: 'must be a positive number of days' }).positive('must be a positive number of days').default(7),
  IDEMPOTENCY_DAYS: z.coerce.number({ error: 'must be a positive number of days' }).positive('must be a positive number of days').default(400),
  QR_ALLOWED_HOSTS: z
    .string()
    .default('ofd.soliq.uz')
    .transform(splitList)
    .refine((hosts) => hosts.length > 0, 'at least one host is required'),
  CALLBACK_URL: callbackUrl.default(''),
  CALLBACK_SECRET: z.string().default(''),
  CALLBACK_ALLOWED_HOSTS: hostList(),
  // Hosts trusted to resolve to private, loopback or link-local addresses (checked at connect time, issue 17).
  CALLBACK_PRIVATE_HOSTS: hostList(),
  // Stripe retries for three days, Standard Webhooks for about 27 hours; one day by default, at most 30.
  CALLBACK_RETRY_HOURS: z.coerce
    .number({ error: 'must be a number of hours above 0, at most 720' })
    .positive('must be a number of hours above 0, at most 720')
    .max(720, 'must be a number of hours above 0, at most 720')
    .default(24),
  SHUTDOWN_TIMEOUT_MS: int(0).default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // The image sets NODE_ENV=production: the start-up checks of production.ts apply.
  NODE_ENV: z.string().default(''),
  // docker-compose.yml's demo profile: the provider URLs point at the fiscal-worker sandbox (production.ts).
  SANDBOX_PROVIDERS: flag,
}).extend(RateLimits.shape);

export interface Config {
  redisUrl: string;
  /** REDIS_CLUSTER: `redisUrl` is a seed node of a Redis Cluster. */
  redisCluster: boolean;
  queuePrefix: string;
  /** QUEUE_SHARDS: `all` for every confirmation provider, else per provider (only confirmation queues are sharded). */
  queueShards: { all?: number; byProvider: Readonly<Partial<Record<Provider, number>>> };
  host: string;
  port: number;
  metricsPort: number;
  apiTokens: readonly string[];
  board: { username: string; password: string };
  fiscalbox: { baseUrl: string; token: string };
  freedompay: { baseUrl: string; merchantId: string; secretKey: string };
  providerTimeoutMs: number;
  workerConcurrency: number;
  retry: { attempts: number; baseMs: number; maxMs: number };
  circuit: { threshold: number; probeMs: number };
  rateLimits: Readonly<Partial<Record<Provider, number>>>;
  retentionSeconds: number;
  /** IDEMPOTENCY_DAYS: how long a money record's tombstone answers repeats after the record itself is gone. */
  idempotencySeconds: number;
  qrAllowedHosts: readonly string[];
  callback: {
    url: string;
    secret: string;
    allowedHosts: readonly string[];
    privateHosts: readonly string[];
    /** CALLBACK_RETRY_HOURS: a callback is retried until at least this long after its event, then dead-lettered. */
    retryWindowMs: number;
  };
  shutdownTimeoutMs: number;
  logLevel: string;
  /** NODE_ENV=production (the image's default): credentials and provider URLs are checked at start-up. */
  production: boolean;
  /** SANDBOX_PROVIDERS=true: every provider URL is the sandbox's (compose's demo profile); nothing is fiscalized for real. */
  sandboxProviders: boolean;
}

/**
 * Parses the environment once at start-up; nothing outside `config/` reads `process.env`. `startupChecks` adds the
 * rules of the command about to run (production.ts); every problem is reported at once, those of the checks too when
 * some variable is bad: they then see the rest of the environment with that variable at its default.
 */
export function loadConfig(env: NodeJS.ProcessEnv, startupChecks?: (config: Readonly<Config>) => string[]): Readonly<Config> {
  const { config, problems } = parseConfig(env);
  if (config && problems.length === 0) {
    const startup = startupChecks?.(config) ?? [];
    if (startup.length === 0) return config;
    throw new ConfigError(startup);
  }
  const bad = new Set(problems.map((problem) => problem.slice(0, problem.indexOf(':'))));
  const rest = Object.fromEntries(Object.entries(env).filter(([name]) => !bad.has(name)));
  const fallback = startupChecks ? parseConfig(rest).config : undefined;
  const startup = fallback ? startupChecks!(fallback).filter((problem) => !bad.has(problem.slice(0, problem.indexOf(':')))) : [];
  throw new ConfigError([...problems, ...startup]);
}

function parseConfig(env: NodeJS.ProcessEnv): { config?: Readonly<Config>; problems: string[] } {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    return { problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`) };
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.RETRY_MAX_MS < e.RETRY_BASE_MS) problems.push('RETRY_MAX_MS: must be at least RETRY_BASE_MS');
  if (e.CALLBACK_URL && !e.CALLBACK_SECRET) problems.push('CALLBACK_SECRET: required when CALLBACK_URL is set');
  else if (e.CALLBACK_ALLOWED_HOSTS.length > 0 && !e.CALLBACK_SECRET) problems.push('CALLBACK_SECRET: required when CALLBACK_ALLOWED_HOSTS is set');
  const unlisted = e.CALLBACK_PRIVATE_HOSTS.filter((host) => !e.CALLBACK_ALLOWED_HOSTS.includes(host));
  if (unlisted.length > 0) problems.push(`CALLBACK_PRIVATE_HOSTS: ${unlisted.join(', ')} must also be on CALLBACK_ALLOWED_HOSTS`);
  if (Boolean(e.BOARD_USERNAME) !== Boolean(e.BOARD_PASSWORD)) {
    problems.push('BOARD_PASSWORD: BOARD_USERNAME and BOARD_PASSWORD must be set together');
  }
  if (e.REDIS_CLUSTER) {
    if (!['', '/', '/0'].includes(new URL(e.REDIS_URL).pathname)) problems.push('REDIS_URL: a Redis Cluster has only database 0; remove the /<db> part');
  }
  if (problems.length > 0) return { problems };

  const rateLimits: Partial<Record<Provider, number>> = {};
  for (const provider of PROVIDERS) {
    const limit = e[rateLimitName(provider)];
    if (limit !== undefined) rateLimits[provider] = limit;
  }
  const config: Config = {
    redisUrl: e.REDIS_URL,
    redisCluster: e.REDIS_CLUSTER,
    queuePrefix: e.QUEUE_PREFIX,
    queueShards: e.QUEUE_SHARDS,
    host: e.HOST,
    port: e.PORT,
    metricsPort: e.METRICS_PORT,
    apiTokens: e.API_TOKENS,
    board: { username: e.BOARD_USERNAME, password: e.BOARD_PASSWORD },
    fiscalbox: { baseUrl: e.FISCALBOX_BASE_URL, token: e.FISCALBOX_TOKEN },
    freedompay: {
      baseUrl: e.FREEDOMPAY_BASE_URL,
      merchantId: e.FREEDOMPAY_MERCHANT_ID,
      secretKey: e.FREEDOMPAY_SECRET_KEY,
    },
    providerTimeoutMs: e.PROVIDER_TIMEOUT_MS,
    workerConcurrency: e.WORKER_CONCURRENCY,
    retry: { attempts: e.RETRY_ATTEMPTS, baseMs: e.RETRY_BASE_MS, maxMs: e.RETRY_MAX_MS },
    circuit: { threshold: e.CIRCUIT_THRESHOLD, probeMs: e.CIRCUIT_PROBE_MS },
    rateLimits,
    retentionSeconds: Math.round(e.RETENTION_DAYS * 86_400),
    idempotencySeconds: Math.round(e.IDEMPOTENCY_DAYS * 86_400),
    qrAllowedHosts: e.QR_ALLOWED_HOSTS,
    callback: {
      url: e.CALLBACK_URL,
      secret: e.CALLBACK_SECRET,
      allowedHosts: e.CALLBACK_ALLOWED_HOSTS,
      privateHosts: e.CALLBACK_PRIVATE_HOSTS,
      retryWindowMs: Math.round(e.CALLBACK_RETRY_HOURS * 3_600_000),
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === 'production',
    sandboxProviders: e.SANDBOX_PROVIDERS,
  };
  return { config: deepFreeze(config), problems: [] };
}

/** A loopback host may run without credentials (CONTRACT §2); anything else must not. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
