import type { Redis } from 'ioredis';
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

  constructor(
    private readonly redis: Redis,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /**
   * BullMQ's keys must never be evicted: with any other policy Redis may silently drop accepted jobs under memory
   * pressure. Warn loudly at start-up and on /readyz. Managed Redis may refuse CONFIG GET; then there is nothing to say.
   */
  async checkEvictionPolicy(): Promise<void> {
    try {
      const reply = (await this.redis.config('GET', 'maxmemory-policy')) as string[];
      const policy = reply[1];
      if (policy && policy !== 'noeviction') {
        this.warnings = [`Redis maxmemory-policy is ${policy}; set it to noeviction or accepted jobs can be evicted and lost`];
        this.logger.error({ policy }, 'redis maxmemory-policy is not noeviction; accepted jobs may be evicted');
      } else {
        this.warnings = [];
      }
    } catch {
      // CONFIG is often disabled on managed Redis.
    }
  }

  async check(extra: { circuitsOpen?: string[] } = {}): Promise<ReadinessReport> {
    let redisUp = false;
    let reason: string | undefined;
    try {
      await Promise.race([
        this.redis.ping(),
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
