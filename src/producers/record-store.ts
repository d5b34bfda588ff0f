import type { Job } from 'bullmq';
import { PROVIDERS, type Provider } from '../config/env.js';
import { recordId, providerOfRecordId } from '../domain/ids.js';
import { jobHistory, recordError, recordState, type JobResult, type RecordState } from '../domain/record.js';
import type { ProviderQueues } from '../infra/queues.js';
import { UnavailableError, storeDeadline, type RedisClient } from '../infra/redis.js';

/** CONTRACT §3: the record an API client sees for a confirmation, payment or receipt. */
export interface RecordView {
  id: string;
  provider: string;
  state: RecordState;
  attempts: number;
  created_at: string;
  finished_at: string | null;
  result: unknown;
  error: ReturnType<typeof recordError>;
  reference: string | null;
  history: ReturnType<typeof jobHistory>;
  [idField: string]: unknown;
}

const ID_FIELDS = ['payment_id', 'transaction_id', 'amount', 'operation_type'] as const;

export function toRecordView(job: Job, jobState: Awaited<ReturnType<Job['getState']>>): RecordView | undefined {
  const provisional = recordState(jobState, []);
  if (!provisional) return undefined;
  const history = jobHistory(job, provisional);
  const state = recordState(jobState, history)!;
  const data = job.data as Record<string, unknown>;
  const result = state === 'succeeded' ? ((job.returnvalue as JobResult | null) ?? null) : null;
  const view: RecordView = {
    id: job.id!,
    provider: job.queueName,
    state,
    attempts: history.filter((h) => h.code !== 'worker_error').length,
    created_at: new Date(job.timestamp).toISOString(),
    finished_at: job.finishedOn && (state === 'succeeded' || state === 'dead') ? new Date(job.finishedOn).toISOString() : null,
    result: result?.data ?? null,
    error: recordError(state, history, job.failedReason),
    reference: typeof data.reference === 'string' ? data.reference : null,
    history,
  };
  for (const field of ID_FIELDS) if (data[field] !== undefined) view[field] = data[field];
  if (result?.after_lost_answer) view.after_lost_answer = true;
  if (result?.links) view.links = result.links;
  if (data.links) view.links = { ...(data.links as object), ...(view.links as object | undefined) };
  return view;
}

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
    const provider = providerOfRecordId(id);
    if (!(PROVIDERS as readonly string[]).includes(provider)) return undefined;
    const queue = this.queues.get(provider as Provider);
    const [job, state] = await Promise.all([queue.getJob(id), queue.getJobState(id)]);
    return job ? toRecordView(job, state) : undefined;
  }

  findByPaymentId(paymentId: string): Promise<RecordView[]> {
    const ids = (['payme', 'uzum', 'anor'] as const).map((p) => recordId(p, paymentId));
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
