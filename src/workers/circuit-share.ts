import type { RedisClient } from '../infra/redis.js';

/** The probe schedule (CONTRACT §2): the first probe `probeMs` after opening, the wait doubling while probes fail. */
export interface ProbeTiming {
  /** CIRCUIT_PROBE_MS: the wait before the first probe, and the least between two. */
  probeMs: number;
  /** RETRY_MAX_MS: the most between two probes. */
  maxProbeMs: number;
  /** PROVIDER_TIMEOUT_MS: how long a probe may take; the open mark outlives a wait plus a hanging probe. */
  callTimeoutMs: number;
}

/**
 * Who asks to probe (circuit.ts): `retry`, a job whose latest call failed, so it failed during this outage (or fails on
 * its own) and probes on the backed-off schedule; `fresh`, a job that has not failed (no call yet, or its latest one
 * succeeded), whose probe may come CIRCUIT_PROBE_MS after the last one ended.
 */
export type ProbeKind = 'fresh' | 'retry';

/**
 * What every worker process of a provider must agree on while its circuit is open (CONTRACT §4): that it is open, how
 * long the wait between probes has grown, and who makes the next probe. Three keys per provider, each with a TTL so a
 * crashed process never leaves a circuit stuck: the open mark (its value is the current wait between retry probes, so
 * closing the circuit resets it), the probe lease (the retry schedule's next slot) and the gap (a probe in flight, or
 * one that ended less than CIRCUIT_PROBE_MS ago: one probe at a time, never two closer than that). circuit.ts keeps
 * each process's own view.
 */
export interface CircuitShare {
  /**
   * Marks the circuit open and, unless a probe slot is already held, reserves the first one `probeMs` from now. A
   * circuit another process holds open keeps its current wait.
   */
  open(timing: ProbeTiming): Promise<void>;
  /** True while some process holds the circuit open. */
  isOpen(): Promise<boolean>;
  /**
   * 0: this caller has the probe for `leaseMs`; > 0: ms until a `kind` probe may go (no probe in flight, the gap since
   * the last one passed and, for `retry`, the backed-off slot reached); -1: the circuit is closed.
   */
  takeProbe(leaseMs: number, kind: ProbeKind): Promise<number>;
  /**
   * A failure while open: keeps the mark alive. After a failed probe (`probe` says whose) the next probe of any kind
   * waits `probeMs`; after a failed `retry` probe the retry wait doubles (up to `maxProbeMs`) and the next retry slot
   * is that far away. Returns the current retry wait in ms, or 0 when the circuit closed meanwhile.
   */
  failed(timing: ProbeTiming, probe: ProbeKind | undefined): Promise<number>;
  /** The provider answered: closes the circuit for every process (the wait starts over) and lifts the queue's pause. */
  close(): Promise<void>;
}

/** BullMQ's manual rate limit (`worker.rateLimit`) stores this in the queue's limiter key. */
const PAUSE_SENTINEL = String(Number.MAX_SAFE_INTEGER);

// The open mark holds the current wait between retry probes (ms); it lives two waits plus a call, so it outlasts the
// gap between two refreshes and still expires when every worker is gone. A mark written by an older version ('1')
// counts as the first wait. KEYS: mark, lease, gap.
const SCRIPTS = {
  // NX on the lease: when another process opened it first, its probe slot stands, and so does its wait. A circuit that
  // was closed starts with a gap of probeMs (the first probe of either kind comes CIRCUIT_PROBE_MS after opening).
  fiscalCircuitOpen: {
    numberOfKeys: 3,
    lua: `local probe = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]))
local wait = math.max(current or 0, probe)
redis.call('SET', KEYS[1], wait, 'PX', 2 * wait + tonumber(ARGV[2]))
redis.call('SET', KEYS[2], '1', 'NX', 'PX', probe)
if not current then redis.call('SET', KEYS[3], '1', 'PX', probe) end
return 1`,
  },
  // One probe at a time for both kinds (the gap); a retry probe also waits for its backed-off slot (the lease).
  fiscalCircuitTakeProbe: {
    numberOfKeys: 3,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local function left(key)
  local ttl = redis.call('PTTL', key)
  if ttl == -2 then return 0 end
  if ttl < 1 then return 1 end
  return ttl
end
local retry = ARGV[2] == 'retry'
local wait = left(KEYS[3])
if retry then wait = math.max(wait, left(KEYS[2])) end
if wait > 0 then return wait end
if retry then redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return 0`,
  },
  // CONTRACT §2: the retry wait doubles while retry probes fail, up to RETRY_MAX_MS (never below CIRCUIT_PROBE_MS);
  // after any failed probe the next one waits CIRCUIT_PROBE_MS.
  fiscalCircuitFailed: {
    numberOfKeys: 3,
    lua: `local current = tonumber(redis.call('GET', KEYS[1]))
if not current then return 0 end
local probe = tonumber(ARGV[1])
local wait = math.max(current, probe)
if ARGV[4] == 'retry' then
  wait = math.min(wait * 2, math.max(tonumber(ARGV[2]), probe))
  redis.call('SET', KEYS[2], '1', 'PX', wait)
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], '1', 'PX', probe) end
redis.call('SET', KEYS[1], wait, 'PX', 2 * wait + tonumber(ARGV[3]))
return wait`,
  },
  fiscalCircuitClose: {
    numberOfKeys: 2,
    lua: `redis.call('DEL', KEYS[1], KEYS[2])
return 1`,
  },
  // A queue's pause key is deleted only while it holds the circuit's pause, never a RATE_LIMIT_<P> window's count.
  fiscalCircuitLift: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`,
  },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type WithScripts = Record<ScriptName, (...args: (string | number)[]) => Promise<number>>;

/**
 * The shared state in Redis, next to the provider's (first) queue: `<prefix>:circuit:<provider>` (open mark and wait),
 * `…:probe` (lease) and `…:gap`, in that queue's Redis Cluster slot; plus BullMQ's limiter key of each of the
 * provider's queues (`pauseKeys`: one per shard, each in its own slot), which hold the pause. The gap is not deleted on
 * close: it lives at most a probe and a call, and a circuit that opens again starts it over.
 */
export class RedisCircuitShare implements CircuitShare {
  private readonly mark: string;
  private readonly lease: string;
  private readonly gap: string;
  private readonly redis: WithScripts;

  constructor(
    redis: RedisClient,
    prefix: string,
    provider: string,
    private readonly pauseKeys: readonly string[],
  ) {
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, script);
    }
    this.redis = redis as unknown as WithScripts;
    this.mark = `${prefix}:circuit:${provider}`;
    this.lease = `${prefix}:circuit:${provider}:probe`;
    this.gap = `${prefix}:circuit:${provider}:gap`;
  }

  async open(timing: ProbeTiming): Promise<void> {
    await this.redis.fiscalCircuitOpen(this.mark, this.lease, this.gap, ms(timing.probeMs), ms(timing.callTimeoutMs));
  }

  async isOpen(): Promise<boolean> {
    return (await (this.redis as unknown as RedisClient).exists(this.mark)) === 1;
  }

  takeProbe(leaseMs: number, kind: ProbeKind): Promise<number> {
    return this.redis.fiscalCircuitTakeProbe(this.mark, this.lease, this.gap, ms(leaseMs), kind);
  }

  failed(timing: ProbeTiming, probe: ProbeKind | undefined): Promise<number> {
    return this.redis.fiscalCircuitFailed(this.mark, this.lease, this.gap, ms(timing.probeMs), ms(timing.maxProbeMs), ms(timing.callTimeoutMs), probe ?? '');
  }

  async close(): Promise<void> {
    await this.redis.fiscalCircuitClose(this.mark, this.lease);
    await Promise.all(this.pauseKeys.map((key) => this.redis.fiscalCircuitLift(key, PAUSE_SENTINEL)));
  }
}

const ms = (value: number) => Math.max(1, Math.round(value));
