import { Job, type Queue } from 'bullmq';
import type { Config } from '../config/env.js';
import type { RedisClient } from '../infra/redis.js';
import type { Logger } from '../observability/logger.js';
import { currentRun } from '../workers/job-progress.js';
import { callbackEventId, openCallbackQueue, runOfFinished, type CallbackJobData, type TerminalState } from './events.js';

export interface CallbackSchedulerDeps {
  config: Readonly<Config>;
  /** The workers' connection: while Redis is away, scheduling waits for it like the job's own end does. */
  connection: RedisClient;
  /** The callbacks queue's BullMQ prefix (Layout.auxiliaryPrefix: its own slot on a Redis Cluster). */
  prefix: string;
  logger: Logger;
  /** How long a callback scheduled before its record's end waits for release() before it runs on its own. */
  graceMs: number;
}

/** BullMQ's promote() error code: the job is not in the delayed set (missing, or already waiting, running or done). */
const JOB_NOT_IN_STATE = -3;
const RELEASE_TRIES = 5;

/**
 * Puts a record's callback in the callbacks queue without a window in which a crash loses it (issue 17).
 *
 * `prepare` runs in the provider worker just before BullMQ stores the record's terminal state (WorkerHost's processor
 * wrapper) and adds the callback as a delayed job; `release` runs after the state is stored (WorkerHost.onTerminal)
 * and promotes it, so it goes out at once. If the process dies between the two, the delayed job runs by itself after
 * `graceMs`, and the delivery first reads the record (capture.ts): ended as scheduled → sent; still running (the store
 * never happened; the job runs again as a stalled job) → it waits; ended otherwise → skipped, that end has its own
 * event. Either way one event id, so nothing is sent twice under two ids. Should `prepare` itself fail, `release` adds
 * the job (retried a few times); only a failure of both loses the callback, and that is logged.
 */
export class CallbackScheduler {
  readonly queue: Queue<CallbackJobData>;
  private readonly releasing = new Set<Promise<void>>();

  constructor(private readonly deps: CallbackSchedulerDeps) {
    this.queue = openCallbackQueue(deps.connection, deps.prefix);
  }

  /** Before the terminal state is stored: `run` is the run the job is in. Never throws: the job's end must not fail. */
  async prepare(queue: string, job: Job, state: TerminalState): Promise<void> {
    const data = this.eventData(queue, job, state, () => currentRun(job));
    if (!data) return;
    try {
      await this.queue.add(state, data, { jobId: callbackEventId(data.record_id, state, data.run), delay: this.deps.graceMs });
    } catch (err) {
      this.deps.logger.warn({ record_id: job.id, err: { message: errorMessage(err) } }, 'callback not prepared; it is added once the record has ended');
    }
  }

  /** After the terminal state is stored (fire and forget; close() waits for what is in flight). */
  release(queue: string, job: Job, state: TerminalState): void {
    const data = this.eventData(queue, job, state, () => runOfFinished(job, state));
    if (!data) return;
    const work = this.releaseWithRetries(data).finally(() => this.releasing.delete(work));
    this.releasing.add(work);
  }

  private async releaseWithRetries(data: CallbackJobData): Promise<void> {
    const id = callbackEventId(data.record_id, data.state, data.run);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.releaseOnce(id, data);
        return;
      } catch (err) {
        if (attempt >= RELEASE_TRIES) {
          this.deps.logger.error({ job_id: id, record_id: data.record_id, err: { message: errorMessage(err) } }, 'callback could not be scheduled');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt).unref());
      }
    }
  }

  private async releaseOnce(id: string, data: CallbackJobData): Promise<void> {
    try {
      // Promote needs only the id: no read of the job first.
      await new Job(this.queue, data.state, data, {}, id).promote();
    } catch (err) {
      if ((err as { code?: unknown }).code !== JOB_NOT_IN_STATE) throw err;
      // Not delayed: already released, or prepare() failed. BullMQ adds a job id once, so this adds it only if missing.
      await this.queue.add(data.state, data, { jobId: id });
    }
  }

  /** The callback of a record, if it gets one: its own callback_url, else CALLBACK_URL; neither → none. */
  private eventData(queue: string, job: Job, state: TerminalState, run: () => number): CallbackJobData | undefined {
    const own = (job.data as { callback_url?: unknown } | undefined)?.callback_url;
    const callbackUrl = typeof own === 'string' && own ? own : undefined;
    if (!callbackUrl && !this.deps.config.callback.url) return undefined;
    return { record_id: job.id!, queue, state, run: run(), event_at: Date.now(), ...(callbackUrl ? { callback_url: callbackUrl } : {}) };
  }

  /** Waits (at most `timeoutMs`) for releases in flight, then closes the queue; an unreleased callback runs after its grace. */
  async close(timeoutMs: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.releasing]), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    await this.queue.close();
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
