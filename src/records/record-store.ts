import type { Deadline } from '../domain/enqueue.js';
import { recordId } from '../domain/ids.js';
import type { ProviderQueues } from '../infra/queues.js';
import { storeDeadline } from '../infra/deadline.js';
import { UnavailableError, type RedisClient } from '../infra/redis.js';
import { CONFIRMATION_SPECS, isMoneyProvider } from '../providers/index.js';
import { referenceIndexKeys } from './indexes.js';
import { BadCursorError, pageNewestFirst } from './paging.js';
import { toRecordView, type RecordView } from './record-view.js';
import { readTombstone, tombstoneKey, tombstoneView } from './tombstones.js';

export interface ReadOptions {
  /** The request's one deadline (CONTRACT §3); a fresh 4.5 s one by default. */
  within?: Deadline;
  /** Aborted when the request ends (the client hung up, or it answered 503): no more reads are started. */
  signal?: AbortSignal;
}

/** Look-ups by reference: newest first, `limit` a page (CONTRACT §3 style, like dead letters). */
export const REFERENCE_PAGE_DEFAULT = 100;
export const REFERENCE_PAGE_MAX = 1000;

/** Reads records back from their BullMQ jobs (or a money record's tombstone); one or two Redis calls each, pipelined. */
export class RecordStore {
  constructor(
    private readonly queues: ProviderQueues,
    private readonly redis: RedisClient,
  ) {}

  /** Reads answer within the contract's 5 s or fail as UnavailableError (HTTP 503), never hang or 500. */
  get(id: string, options: ReadOptions = {}): Promise<RecordView | undefined> {
    return bounded(this.read(id), options);
  }

  private async read(id: string): Promise<RecordView | undefined> {
    const found = this.queues.forRecord(id);
    if (!found) return undefined;
    const [job, state] = await Promise.all([found.queue.getJob(id), found.queue.getJobState(id)]);
    if (job) return toRecordView(job, state);
    if (!isMoneyProvider(found.ref.provider)) return undefined;
    // Past RETENTION_DAYS a money record answers from its tombstone (issue 15).
    const tombstone = readTombstone(await this.redis.hgetall(tombstoneKey(this.queues.layout, found.ref, id)));
    return tombstone ? tombstoneView(id, tombstone) : undefined;
  }

  /** CONTRACT §3: `payment_id` matches every confirmation provider's id field (Anor's `transaction_id` too). */
  findByPaymentId(paymentId: string, options: ReadOptions = {}): Promise<RecordView[]> {
    const ids = CONFIRMATION_SPECS.map((spec) => recordId(spec.name, paymentId));
    return bounded(this.readMany(ids, options.signal), options);
  }

  /**
   * One page of a reference's records, newest first (issue 19: a reference may hold any number of records). Ids whose
   * record is gone are dropped from the index on the way, so a page can hold fewer than `limit` items; follow
   * `next_cursor` until it is null.
   */
  findByReference(reference: string, page: { limit: number; cursor?: string }, options: ReadOptions = {}): Promise<{ items: RecordView[]; next_cursor: string | null }> {
    return bounded(
      (async () => {
        const found = await pageNewestFirst(this.redis, referenceIndexKeys(this.queues.layout, reference), page.limit, page.cursor);
        const records = await this.readMany(found.items.map((item) => item.member), options.signal);
        const kept = new Set(records.map((record) => record.id));
        for (const gone of found.items.filter((item) => !kept.has(item.member))) void this.redis.zrem(gone.key, gone.member).catch(() => undefined);
        return { items: records, next_cursor: found.next };
      })(),
      options,
    );
  }

  private async readMany(ids: string[], signal: AbortSignal | undefined): Promise<RecordView[]> {
    const records: (RecordView | undefined)[] = [];
    // In slices, so a request that ended stops its reads instead of finishing a thousand of them for nobody.
    for (let start = 0; start < ids.length; start += READ_SLICE) {
      if (signal?.aborted) throw new UnavailableError(signal.reason, 'the request ended before its records were read');
      records.push(...(await Promise.all(ids.slice(start, start + READ_SLICE).map((id) => this.read(id)))));
    }
    return records.filter((r): r is RecordView => r !== undefined);
  }
}

const READ_SLICE = 100;

function bounded<T>(work: Promise<T>, options: ReadOptions): Promise<T> {
  const within = options.within ?? storeDeadline();
  return within(work).catch((err: unknown) => {
    if (err instanceof UnavailableError || err instanceof BadCursorError) throw err;
    throw new UnavailableError(err, 'Redis is not answering; the record could not be read, retry later');
  });
}

export type { RecordView };
