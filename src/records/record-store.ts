import { recordId, providerOfRecordId } from '../domain/ids.js';
import type { ProviderQueues } from '../infra/queues.js';
import { UnavailableError, storeDeadline, type RedisClient } from '../infra/redis.js';
import { CONFIRMATION_SPECS, findSpec } from '../providers/index.js';
import { toRecordView, type RecordView } from './record-view.js';

/** Reads records back from their BullMQ jobs; every read is one or two Redis calls, auto-pipelined. */
export class RecordStore {
  constructor(
    private readonly queues: ProviderQueues,
    private readonly redis: RedisClient,
  ) {}

  /** Reads answer within the contract's 5 s or fail as UnavailableError (HTTP 503), never hang or 500. */
  get(id: string): Promise<RecordView | undefined> {
    return bounded(this.read(id));
  }

  private async read(id: string): Promise<RecordView | undefined> {
    const spec = findSpec(providerOfRecordId(id));
    if (!spec) return undefined;
    const queue = this.queues.get(spec.name);
    const [job, state] = await Promise.all([queue.getJob(id), queue.getJobState(id)]);
    return job ? toRecordView(job, state) : undefined;
  }

  /** CONTRACT §3: `payment_id` matches every confirmation provider's id field (Anor's `transaction_id` too). */
  findByPaymentId(paymentId: string): Promise<RecordView[]> {
    const ids = CONFIRMATION_SPECS.map((spec) => recordId(spec.name, paymentId));
    return bounded(this.readMany(ids));
  }

  findByReference(reference: string): Promise<RecordView[]> {
    return bounded(this.redis.smembers(this.queues.key('ref', reference)).then((ids) => this.readMany(ids.sort())));
  }

  private async readMany(ids: string[]): Promise<RecordView[]> {
    const records = await Promise.all(ids.map((id) => this.read(id)));
    return records.filter((r): r is RecordView => r !== undefined);
  }
}

function bounded<T>(work: Promise<T>): Promise<T> {
  return storeDeadline()(work).catch((err: unknown) => {
    throw err instanceof UnavailableError ? err : new UnavailableError(err, 'Redis is not answering; the record could not be read, retry later');
  });
}

export type { RecordView };
