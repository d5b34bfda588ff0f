import type { Queue } from 'bullmq';
import type { Logger } from '../observability/logger.js';

/** Jobs removed per clean call: one short script at a time, so Redis is never blocked for long. */
const CLEAN_BATCH = 1000;

/** Sweep every half retention, at least once a second and at most once an hour. */
export function sweepIntervalMs(retentionMs: number): number {
  return Math.min(Math.max(Math.round(retentionMs / 2), 1000), 3_600_000);
}

/**
 * Completed jobs (succeeded records) leave Redis once RETENTION_DAYS have passed (CONTRACT §2). BullMQ's
 * `removeOnComplete.age` trims them only when another job of the same queue completes, so after the last job of a
 * busy period the ones before it would stay until more work arrives, possibly forever. This sweep removes them on a
 * timer as well, so Redis memory comes back down whether or not traffic goes on (measured: docs/RELIABILITY.md). Dead
 * letters are never touched (CONTRACT §5).
 */
export class RetentionSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private closed = false;

  /** `queues`: whose completed jobs to remove; they are owned (and closed) by the caller. */
  constructor(
    private readonly queues: readonly Queue[],
    private readonly retentionMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), sweepIntervalMs(this.retentionMs));
    this.timer.unref();
  }

  /** Removes every completed job older than the retention; returns how many (one sweep at a time). */
  sweep(): Promise<number> {
    this.running ??= this.sweepAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops the timer; a sweep in flight is left to finish or fail with the connection. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async sweepAll(): Promise<number> {
    let removed = 0;
    for (const queue of this.queues) {
      try {
        for (;;) {
          const ids = await queue.clean(this.retentionMs, CLEAN_BATCH, 'completed');
          removed += ids.length;
          if (ids.length < CLEAN_BATCH || this.closed) break;
        }
      } catch (err) {
        this.logger.warn({ queue: queue.name, err }, 'retention sweep failed');
      }
    }
    if (removed > 0) this.logger.debug({ removed }, 'retention sweep removed completed jobs');
    return removed;
  }
}
