import type { RedisClient } from '../infra/redis.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface ReadinessReport {
  ready: boolean;
  redis: 'up' | 'down';
  reason?: string;
  warnings?: string[];
  circuits_open?: string[];
}

const PING_TIMEOUT_MS = 2000;

/** `/readyz`: Redis answers (within 2 s); plus what an operator must know even while ready. */
export class ReadinessProbe {
  private warnings: string[] = [];
  private reportedPolicy: string | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** A key in each queue's hash slot (infra/layout.ts), probed instead of PING on a Redis Cluster. */
    private readonly slotKeys: readonly string[] = [],
  ) {}

  /**
   * BullMQ's keys must never be evicted: with any other policy Redis may silently drop accepted jobs under memory
   * pressure. Warn loudly at start-up and on /readyz. Managed Redis may refuse CONFIG GET; then there is nothing to say.
   * Runs again on every (re)connection (app.ts), so a Redis that was down at start-up or came back with another
   * configuration is checked too; the error is logged once per policy seen.
   */
  async checkEvictionPolicy(): Promise<void> {
    try {
      const reply = (await this.redis.config('GET', 'maxmemory-policy')) as string[];
      const policy = reply[1];
      if (policy && policy !== 'noeviction') {
        this.warnings = [`Redis maxmemory-policy is ${policy}; set it to noeviction or accepted jobs can be evicted and lost`];
        if (this.reportedPolicy !== policy) {
          this.logger.error({ policy }, 'redis maxmemory-policy is not noeviction; accepted jobs may be evicted');
        }
      } else {
        this.warnings = [];
      }
      this.reportedPolicy = policy;
    } catch {
      // CONFIG is often disabled on managed Redis.
    }
  }

  /**
   * On a cluster PING goes to any node, and a lost master is simply dropped from the client's pool; a read of a key in
   * each queue's slot goes to every master that holds a queue, and each of them must answer.
   */
  private async ping(): Promise<void> {
    if (this.redis.isCluster && this.slotKeys.length) await Promise.all(this.slotKeys.map((key) => this.redis.exists(key)));
    else await this.redis.ping();
  }

  async check(extra: { circuitsOpen?: string[] } = {}): Promise<ReadinessReport> {
    let redisUp = false;
    let reason: string | undefined;
    try {
      await Promise.race([
        this.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS).unref()),
      ]);
      redisUp = true;
    } catch (err) {
      reason = `Redis is not answering: ${err instanceof Error ? err.message : String(err)}`;
    }
    this.metrics.redisUp.set(redisUp ? 1 : 0);
    return {
      ready: redisUp,
      redis: redisUp ? 'up' : 'down',
      ...(reason ? { reason } : {}),
      ...(this.warnings.length ? { warnings: this.warnings } : {}),
      ...(extra.circuitsOpen?.length ? { circuits_open: extra.circuitsOpen } : {}),
    };
  }
}
