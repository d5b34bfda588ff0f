import { ErrorCode, type Job } from 'bullmq';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { decodeAttempts } from '../domain/attempt.js';
import { forceMark } from '../domain/forced-replay.js';
import type { Layout } from '../infra/layout.js';
import type { RedisClient } from '../infra/redis.js';
import type { Logger } from '../observability/logger.js';
import { isMoneyProvider } from '../providers/index.js';
import { pageNewestFirst } from '../records/paging.js';
import { toRecordView, type RecordView } from '../records/record-view.js';
import { recordTombstone, tombstoneKey } from '../records/tombstones.js';
import { currentRun } from '../workers/job-progress.js';
import type { CatalogQueue, QueueCatalog } from './queue-catalog.js';

/** Who does something to dead letters (issue 16: every replay and removal is an audit line saying who). */
export interface Actor {
  via: 'api' | 'cli' | 'board';
  /** The token's label (never the token), the OS user, the board user. */
  name: string;
}

export interface ReplayRequest {
  ids?: readonly string[];
  /** Every dead letter of one provider (all its shards), or of the callbacks queue. */
  provider?: string;
  /** Every dead letter of one BullMQ queue (a board's "retry all" on one shard). */
  queue?: string;
  all?: boolean;
  /** Also replay `ambiguous` dead letters: a charge or receipt create that may have reached the provider. */
  force?: boolean;
  actor: Actor;
  onProgress?: (done: number, total: number) => void;
  /** Stops the replay between chunks (the CLI's Ctrl-C); what was replayed stays replayed and is in the report. */
  signal?: AbortSignal;
}

export type SkipReason = 'not_found' | 'not_dead' | 'needs_force';

export interface ReplayReport {
  replayed: number;
  skipped: { id: string; reason: SkipReason; message: string }[];
  /** Set when `signal` stopped the replay before it had gone through everything. */
  interrupted?: true;
}

export interface DeadLetterDeps {
  catalog: QueueCatalog;
  /** The api connection: list pages read the failed sets through it. */
  redis: RedisClient;
  logger: Logger;
  /** Where money records' tombstones live and how long they last (RETENTION_DAYS + IDEMPOTENCY_DAYS, in seconds). */
  tombstones?: { layout: Layout; seconds: number };
}

/** Dead letters replayed at once: each is two or three round trips; a chunk is one event-loop turn's worth. */
const REPLAY_CHUNK = 200;
/** At most this many ids in one audit line; the counts always say how many there were. */
const AUDIT_IDS = 100;

/**
 * Dead letters (CONTRACT §3, §5): every queue's failed set (the provider queues, their shards, the callbacks queue),
 * listed newest first, replayed and removed through this one path by the API, the CLI and the board's buttons
 * (http/board-guard.ts). A replay puts the failed job back with its id and history; the processor starts a new run
 * after the history's terminal entry, so the job gets fresh RETRY_ATTEMPTS. An `ambiguous` dead letter is skipped
 * unless `force` is given; a forced replay of a money record leaves a mark on the job for its current run, which the
 * processor requires before it charges again (workers/payme-go-processor.ts), and is audit-logged on its own line.
 */
export class DeadLetters {
  constructor(private readonly deps: DeadLetterDeps) {}

  /** The queues a scope covers: one provider's (or `callbacks`), or all; undefined for a name that is neither. */
  scope(owner?: string): CatalogQueue[] | undefined {
    if (owner === undefined) return [...this.deps.catalog.all()];
    const queues = this.deps.catalog.of(owner);
    return queues.length ? queues : undefined;
  }

  /** How many dead letters a scope holds (see `scope`); 0 for a name that is no scope. */
  async count(owner?: string): Promise<number> {
    return this.countDead(this.scope(owner) ?? []);
  }

  async list(query: { provider?: string; limit: number; cursor?: string }): Promise<{ items: RecordView[]; next_cursor: string | null }> {
    const queues = this.scope(query.provider) ?? [];
    const byKey = new Map(queues.map((q) => [q.queue.keys.failed!, q]));
    const page = await pageNewestFirst(this.deps.redis, [...byKey.keys()], query.limit, query.cursor);
    const records = await Promise.all(
      page.items.map(async ({ key, member }) => {
        const job = await byKey.get(key)!.queue.getJob(member);
        return job ? toRecordView(job, 'failed') : undefined;
      }),
    );
    return { items: records.filter((r): r is RecordView => r !== undefined), next_cursor: page.next };
  }

  async replay(request: ReplayRequest): Promise<ReplayReport> {
    const report: ReplayReport = { replayed: 0, skipped: [] };
    const replayedIds: string[] = [];
    const force = request.force ?? false;
    // The same id twice would be two replays racing for one job: the second finds it no longer dead.
    const ids = request.ids ? [...new Set(request.ids)] : undefined;
    const total = ids ? ids.length : await this.countDead(this.queuesOf(request));
    let done = 0;
    let failure: unknown;
    try {
      for await (const chunk of this.idsToReplay(ids, request)) {
        if (request.signal?.aborted) {
          report.interrupted = true;
          break;
        }
        const results = await Promise.all(chunk.map((id) => this.replayOne(id, force, request.actor)));
        for (const result of results) {
          if (result.replayed) {
            report.replayed++;
            if (replayedIds.length < AUDIT_IDS) replayedIds.push(result.id);
          } else report.skipped.push({ id: result.id, reason: result.reason, message: result.message });
        }
        done += chunk.length;
        request.onProgress?.(done, Math.max(total, done));
        // A hundred thousand replays never hold the event loop: the API keeps answering meanwhile.
        await yieldToEventLoop();
      }
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      // Issue 16: every replay is an audit line, also one that Redis cut short (what was replayed before stays so).
      this.deps.logger[failure === undefined ? 'info' : 'error'](
        {
          audit: 'replay',
          actor: request.actor,
          scope: ids ? 'ids' : (request.queue ?? request.provider ?? 'all'),
          force,
          requested: done,
          replayed: report.replayed,
          ids: replayedIds,
          skipped: report.skipped.length,
          skipped_ids: report.skipped.slice(0, AUDIT_IDS).map(({ id, reason }) => ({ id, reason })),
          ...(report.interrupted ? { interrupted: true } : {}),
          ...(failure === undefined ? {} : { err: failure }),
        },
        failure === undefined ? 'dead letters replayed' : 'dead-letter replay stopped by an error',
      );
    }
    return report;
  }

  /** Removes one dead letter (CONTRACT §3 DELETE); false when there is no dead letter with that id. */
  async remove(id: string, actor: Actor): Promise<boolean> {
    const entry = this.deps.catalog.ofJob(id);
    const job = await entry?.queue.getJob(id);
    if (!entry || !job || (await job.getState()) !== 'failed') return false;
    await this.keepTombstone(job);
    try {
      await job.remove();
    } catch (err) {
      // Replayed meanwhile and now running (BullMQ refuses to remove a locked job): it is no dead letter any more.
      if ((await job.getState()) !== 'failed') return false;
      throw err;
    }
    this.deps.logger.info({ audit: 'remove', actor, queue: entry.name, ids: [id], count: 1 }, 'dead letter removed');
    return true;
  }

  /**
   * A money record's tombstone must outlive the record by IDEMPOTENCY_DAYS (issue 15, CONTRACT §2), but the one written
   * when the job died may have expired meanwhile: dead letters stay until removed (CONTRACT §5). So it is written again
   * before the job goes; if that fails, nothing is removed.
   */
  private async keepTombstone(job: Job): Promise<void> {
    const { tombstones } = this.deps;
    const ref = tombstones?.layout.queueOfRecord(job.id!);
    if (!tombstones || !ref || !isMoneyProvider(ref.provider)) return;
    await recordTombstone(this.deps.redis, tombstoneKey(tombstones.layout, ref, job.id!), job, 'dead', tombstones.seconds);
  }

  private async replayOne(id: string, force: boolean, actor: Actor): Promise<{ id: string; replayed: true } | { id: string; replayed: false; reason: SkipReason; message: string }> {
    const entry = this.deps.catalog.ofJob(id);
    const job = await entry?.queue.getJob(id);
    if (!entry || !job) return { id, replayed: false, reason: 'not_found', message: `no record with id ${id}` };
    const state = await job.getState();
    if (state !== 'failed') return { id, replayed: false, reason: 'not_dead', message: `${id} is not a dead letter (it is ${state}); nothing was replayed` };
    const unsafe = whyForceIsNeeded(entry, job);
    if (unsafe) {
      if (!force) return { id, replayed: false, reason: 'needs_force', message: unsafe };
      // The processor sends an ambiguous charge again only in the run this mark names (issue 15).
      await job.updateProgress(forceMark(job.progress, currentRun(job), actor));
      this.deps.logger.warn({ audit: 'forced_replay', actor, ids: [id], queue: entry.name }, 'ambiguous dead letter replayed with force');
    }
    try {
      await job.retry('failed', { resetAttemptsMade: true });
    } catch (err) {
      // Replayed or removed by someone else since it was read: BullMQ's script checks the failed set atomically.
      const code = (err as { code?: unknown }).code;
      if (code === ErrorCode.JobNotExist) return { id, replayed: false, reason: 'not_found', message: `no record with id ${id}` };
      if (code === ErrorCode.JobNotInState) return { id, replayed: false, reason: 'not_dead', message: `${id} is no longer a dead letter (replayed meanwhile); nothing was replayed` };
      throw err;
    }
    return { id, replayed: true };
  }

  /** The ids to replay, in chunks: the given ids, or each failed set paged newest first (replays leave the set). */
  private async *idsToReplay(ids: readonly string[] | undefined, request: ReplayRequest): AsyncGenerator<string[]> {
    if (ids) {
      for (let start = 0; start < ids.length; start += REPLAY_CHUNK) yield ids.slice(start, start + REPLAY_CHUNK);
      return;
    }
    const keys = this.queuesOf(request).map((q) => q.queue.keys.failed!);
    let cursor: string | undefined;
    for (;;) {
      const page = await pageNewestFirst(this.deps.redis, keys, REPLAY_CHUNK, cursor);
      if (page.items.length) yield page.items.map((item) => item.member);
      if (!page.next) return;
      cursor = page.next;
    }
  }

  /** The queues a request's scope names (none for a request by ids, or for a name that is no queue). */
  private queuesOf(request: ReplayRequest): CatalogQueue[] {
    if (request.ids) return [];
    if (request.queue !== undefined) {
      const named = this.deps.catalog.named(request.queue);
      return named ? [named] : [];
    }
    if (request.provider !== undefined) return this.scope(request.provider) ?? [];
    return request.all ? [...this.deps.catalog.all()] : [];
  }

  private async countDead(queues: readonly CatalogQueue[]): Promise<number> {
    const counts = await Promise.all(queues.map((q) => q.queue.getFailedCount()));
    return counts.reduce((sum, n) => sum + n, 0);
  }
}

/**
 * Why replaying this dead letter may do again what the provider already did (CONTRACT §3: skipped unless forced), or
 * undefined. An ambiguous end; and for a charge, an ambiguous call anywhere in its history, since the processor then
 * refuses to send again without a forced run (workers/payme-go-processor.ts) whatever ended the last run.
 */
function whyForceIsNeeded(entry: CatalogQueue, job: Job): string | undefined {
  const history = decodeAttempts(job.stacktrace);
  if (history[history.length - 1]?.class === 'ambiguous') {
    return `${job.id} is ambiguous: the provider may already have done it. Check with the provider, then replay it with force`;
  }
  if (entry.kind === 'payment' && history.some((e) => e.class === 'ambiguous')) {
    return `${job.id}: an earlier call without an answer may already have charged the customer. Check with the provider, then replay it with force`;
  }
  return undefined;
}
