import type { RedisClient } from '../infra/redis.js';

/**
 * What every worker process of a provider must agree on while its circuit is open (CONTRACT §4): that it is open, and
 * who makes the next probe. Two keys per provider, each with a TTL so a crashed process never leaves a circuit stuck:
 * the open mark and the probe lease. circuit.ts keeps each process's own view.
 */
export interface CircuitShare {
  /** Marks the circuit open for `markMs` and, unless a probe slot is already held, reserves the first one `leaseMs` from now. */
  open(markMs: number, leaseMs: number): Promise<void>;
  /** True while some process holds the circuit open. */
  isOpen(): Promise<boolean>;
  /** 0: this caller has the probe slot for `leaseMs`; > 0: ms until the slot frees; -1: the circuit is closed. */
  takeProbe(leaseMs: number): Promise<number>;
  /** A failure while open: keeps the mark alive; `leaseMs` > 0 after a probe (the next one comes that much later). False when the circuit closed meanwhile. */
  failed(markMs: number, leaseMs: number): Promise<boolean>;
  /** The provider answered: closes the circuit for every process and lifts the queue's pause. */
  close(): Promise<void>;
}

/** BullMQ's manual rate limit (`worker.rateLimit`) stores this in the queue's limiter key. */
const PAUSE_SENTINEL = String(Number.MAX_SAFE_INTEGER);

const SCRIPTS = {
  // NX on the lease: when another process opened it first, its probe slot stands.
  fiscalCircuitOpen: {
    numberOfKeys: 2,
    lua: `redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2])
return 1`,
  },
  fiscalCircuitTakeProbe: {
    numberOfKeys: 2,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 0 end
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 1 then return 1 end
return ttl`,
  },
  fiscalCircuitFailed: {
    numberOfKeys: 2,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[2], '1', 'PX', ARGV[2]) end
return 1`,
  },
  // The pause key is deleted only while it holds the circuit's pause, never a RATE_LIMIT_<P> window's count.
  fiscalCircuitClose: {
    numberOfKeys: 3,
    lua: `redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1`,
  },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type WithScripts = Record<ScriptName, (...args: (string | number)[]) => Promise<number>>;

/**
 * The shared state in Redis, next to the provider's queue: `<prefix>:circuit:<provider>` (open mark) and
 * `…:probe` (lease), plus BullMQ's `<prefix>:<provider>:limiter` (the pause). With a hash-tagged prefix (`{fiscal}`)
 * all three sit in one Redis Cluster slot, as the scripts need.
 */
export class RedisCircuitShare implements CircuitShare {
  private readonly mark: string;
  private readonly lease: string;
  private readonly pause: string;
  private readonly redis: WithScripts;

  constructor(redis: RedisClient, prefix: string, provider: string) {
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, script);
    }
    this.redis = redis as unknown as WithScripts;
    this.mark = `${prefix}:circuit:${provider}`;
    this.lease = `${prefix}:circuit:${provider}:probe`;
    this.pause = `${prefix}:${provider}:limiter`;
  }

  async open(markMs: number, leaseMs: number): Promise<void> {
    await this.redis.fiscalCircuitOpen(this.mark, this.lease, ms(markMs), ms(leaseMs));
  }

  async isOpen(): Promise<boolean> {
    return (await (this.redis as unknown as RedisClient).exists(this.mark)) === 1;
  }

  takeProbe(leaseMs: number): Promise<number> {
    return this.redis.fiscalCircuitTakeProbe(this.mark, this.lease, ms(leaseMs));
  }

  async failed(markMs: number, leaseMs: number): Promise<boolean> {
    return (await this.redis.fiscalCircuitFailed(this.mark, this.lease, ms(markMs), leaseMs > 0 ? ms(leaseMs) : 0)) === 1;
  }

  async close(): Promise<void> {
    await this.redis.fiscalCircuitClose(this.mark, this.lease, this.pause, PAUSE_SENTINEL);
  }
}

const ms = (value: number) => Math.max(1, Math.round(value));
