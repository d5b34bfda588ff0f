import type { JobState } from 'bullmq';
import { decodeAttempts, readSuccess, storeSuccess, type AttemptEntry, type StoredSuccess } from './attempt.js';

/** CONTRACT §3: the states a record can be in. */
export type RecordState = 'queued' | 'active' | 'retrying' | 'succeeded' | 'dead';

export interface RecordError {
  kind: string;
  code: string;
  message: string;
  provider_response: unknown;
  /** The provider's per-field problems, when it gave them in a structured way (FiscalBox code 7). */
  details?: unknown;
}

/** What a successful job returns; stored by BullMQ as the job's `returnvalue` (its attempt in the stored form). */
export interface JobResult {
  data: unknown;
  attempt: AttemptEntry;
  /** Set when an earlier call's answer was lost, so the provider may have seen this confirmation twice. */
  after_lost_answer?: boolean;
  /** Records created as a consequence, e.g. the `payme_confirm` enqueued after a Payme Go charge. */
  links?: Record<string, string>;
}

/** A JobResult as BullMQ keeps it: the attempt in its stored form (or in full, for jobs kept before that form). */
export type StoredJobResult = Omit<JobResult, 'attempt'> & { attempt: StoredSuccess | AttemptEntry };

/** The form a processor's result is handed to BullMQ in. */
export function toStoredResult(result: JobResult): StoredJobResult {
  return { ...result, attempt: storeSuccess(result.attempt) };
}

/** The parts of a BullMQ job a record is built from (a Job, or the same fields read some other way). */
export interface JobSnapshot {
  id?: string | undefined;
  data: Record<string, unknown>;
  timestamp: number;
  finishedOn?: number | undefined;
  returnvalue: unknown;
  stacktrace: string[] | null;
  failedReason?: string | undefined;
  progress?: unknown;
}

export function recordState(jobState: JobState | 'unknown', history: readonly AttemptEntry[]): RecordState | undefined {
  switch (jobState) {
    case 'completed':
      return 'succeeded';
    case 'failed':
      return 'dead';
    case 'active':
      return 'active';
    case 'delayed': {
      // A job delayed after a successful call is waiting for its next step (a Freedom Pay receipt polled until it is
      // registered, seed 004), not retrying a failure.
      const last = history[history.length - 1];
      return last && !last.terminal && last.class !== 'success' ? 'retrying' : 'queued';
    }
    case 'waiting':
    case 'prioritized':
    case 'waiting-children':
      return 'queued';
    default:
      return undefined;
  }
}

/** Provider calls ride on the job: failed ones in `stacktrace`, the successful one in `returnvalue`. */
export function jobHistory(job: JobSnapshot, state: RecordState | undefined): AttemptEntry[] {
  const history = decodeAttempts(job.stacktrace);
  const uncounted = (job.progress as { uncounted?: AttemptEntry[] } | undefined)?.uncounted;
  if (Array.isArray(uncounted) && uncounted.length > 0) {
    history.push(...uncounted);
    history.sort((a, b) => a.at.localeCompare(b.at));
  }
  const result = state === 'succeeded' ? (job.returnvalue as StoredJobResult | null) : null;
  if (result?.attempt) history.push(readSuccess(result.attempt));
  return history;
}

export function recordError(state: RecordState | undefined, history: readonly AttemptEntry[], failedReason?: string): RecordError | null {
  if (state !== 'dead' && state !== 'retrying') return null;
  const last = history[history.length - 1];
  if (!last) return { kind: 'worker_error', code: 'worker_error', message: failedReason ?? 'failed', provider_response: null };
  return {
    kind: last.class,
    code: last.code ?? last.class,
    message: state === 'dead' && failedReason ? failedReason : (last.message ?? ''),
    provider_response: last.provider_response ?? null,
    ...(last.details === undefined ? {} : { details: last.details }),
  };
}
