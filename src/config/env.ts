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
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL with protocol ${protocols.join(' or ')}` },
  );

const rateLimit = z.coerce.number({ error: 'must be a positive number of calls per second' }).positive('must be a positive number of calls per second').optional();

/** `RATE_LIMIT_<PROVIDER>` for every provider of the registry (CONTRACT §2). */
type RateLimitName = `RATE_LIMIT_${Uppercase<Provider>}`;
const rateLimitName = (provider: Provider) => `RATE_LIMIT_${provider.toUpperCase()}` as RateLimitName;
const RateLimits = z.object(Object.fromEntries(PROVIDERS.map((p) => [rateLimitName(p), rateLimit])) as Record<RateLimitName, typeof rateLimit>);

/** Redis Cluster hashes only the part between the first `{` and the next `}`, when it is not empty. */
const HASH_TAG = /^[^{]*\{[^}]+\}/;

const Env = z.object({
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  // README "Redis Cluster": REDIS_URL is then one node of the cluster; ioredis discovers the others.
  REDIS_CLUSTER: z
    .enum(['true', 'false', '1', '0', ''], { error: 'must be true or false' })
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  QUEUE_PREFIX: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9_{}.-]+$/, 'only letters, digits and _ { } . - are allowed')
    .default('fiscal'),
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
  RETENTION_DAYS: z.coerce.number().positive().default(7),
  QR_ALLOWED_HOSTS: z
    .string()
    .default('ofd.soliq.uz')
    .transform(splitList)
    .refine((hosts) => hosts.length > 0, 'at least one host is required'),
  CALLBACK_URL: z.union([z.literal(''), url(['http:', 'https:'])]).default(''),
  CALLBACK_SECRET: z.string().default(''),
  CALLBACK_ALLOWED_HOSTS: csv,
  SHUTDOWN_TIMEOUT_MS: int(0).default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).extend(RateLimits.shape);

export interface Config {
  redisUrl: string;
  /** REDIS_CLUSTER: `redisUrl` is a seed node of a Redis Cluster. */
  redisCluster: boolean;
  queuePrefix: string;
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
  qrAllowedHosts: readonly string[];
  callback: { url: string; secret: string; allowedHosts: readonly string[] };
  shutdownTimeoutMs: number;
  logLevel: string;
}

/** Parses the environment once at start-up; nothing outside `config/` reads `process.env`. */
export function loadConfig(env: NodeJS.ProcessEnv): Readonly<Config> {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.RETRY_MAX_MS < e.RETRY_BASE_MS) problems.push('RETRY_MAX_MS: must be at least RETRY_BASE_MS');
  if (e.CALLBACK_URL && !e.CALLBACK_SECRET) problems.push('CALLBACK_SECRET: required when CALLBACK_URL is set');
  if (Boolean(e.BOARD_USERNAME) !== Boolean(e.BOARD_PASSWORD)) {
    problems.push('BOARD_PASSWORD: BOARD_USERNAME and BOARD_PASSWORD must be set together');
  }
  if (e.REDIS_CLUSTER) {
    // BullMQ's scripts touch several keys of a queue at once; on a cluster they must all hash to one slot.
    if (!HASH_TAG.test(e.QUEUE_PREFIX)) {
      problems.push(`QUEUE_PREFIX: must contain a hash tag when REDIS_CLUSTER=true, e.g. {${e.QUEUE_PREFIX.replace(/[{}]/g, '')}}, so every queue key lands in one slot`);
    }
    if (!['', '/', '/0'].includes(new URL(e.REDIS_URL).pathname)) problems.push('REDIS_URL: a Redis Cluster has only database 0; remove the /<db> part');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const rateLimits: Partial<Record<Provider, number>> = {};
  for (const provider of PROVIDERS) {
    const limit = e[rateLimitName(provider)];
    if (limit !== undefined) rateLimits[provider] = limit;
  }
  return deepFreeze({
    redisUrl: e.REDIS_URL,
    redisCluster: e.REDIS_CLUSTER,
    queuePrefix: e.QUEUE_PREFIX,
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
    qrAllowedHosts: e.QR_ALLOWED_HOSTS,
    callback: { url: e.CALLBACK_URL, secret: e.CALLBACK_SECRET, allowedHosts: e.CALLBACK_ALLOWED_HOSTS },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
  });
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
