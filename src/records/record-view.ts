import type { Job } from 'bullmq';
import { providerOfRecordId } from '../domain/ids.js';
import { jobHistory, recordError, recordState, type RecordState, type StoredJobResult } from '../domain/record.js';

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

/** The request fields a record shows beside its state: the provider's id field, a charge's amount, a sale's type. */
const ID_FIELDS = ['payment_id', 'transaction_id', 'amount', 'operation_type'] as const;

/** A BullMQ job, read with its state, as the record of CONTRACT §3; undefined for a state no record has. */
export function toRecordView(job: Job, jobState: Awaited<ReturnType<Job['getState']>>): RecordView | undefined {
  const provisional = recordState(jobState, []);
  if (!provisional) return undefined;
  const history = jobHistory(job, provisional);
  const state = recordState(jobState, history)!;
  const data = job.data as Record<string, unknown>;
  const result = state === 'succeeded' ? ((job.returnvalue as StoredJobResult | null) ?? null) : null;
  const view: RecordView = {
    id: job.id!,
    // The id names the provider; the queue may be one of its shards.
    provider: providerOfRecordId(job.id!),
    state,
    // Provider calls made (CONTRACT §3): not a crash of ours, not a refusal made without a call.
    attempts: history.filter((h) => h.code !== 'worker_error' && h.http_status !== 'none').length,
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
