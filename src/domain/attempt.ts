import type { OutcomeClass } from './outcome.js';

/** Entries kept per record (BullMQ's `stackTraceLimit`); RETRY_ATTEMPTS is capped below it. */
export const HISTORY_LIMIT = 200;

/** One provider call, as an operator sees it in a record's `history`. */
export interface AttemptEntry {
  at: string; // ISO time the call started
  /** The provider's HTTP status, `timeout`/`network` for a call without an answer, `none` when no call was made. */
  http_status: number | 'timeout' | 'network' | 'none';
  class: OutcomeClass;
  latency_ms: number;
  code?: string;
  message?: string;
  provider_response?: unknown;
  /** What the provider said about each field, when it said it in a structured way (FiscalBox code 7). */
  details?: unknown;
  /** The request may have reached the provider but its answer was lost (timeout, reset, a body that is not JSON). */
  lost_answer?: boolean;
  /** The call that ended a run (success or dead letter); a replay starts a new run after it. */
  terminal?: boolean;
  /** A call made while the provider's circuit was open: it spends no attempt (CONTRACT §4). */
  uncounted?: boolean;
}

/**
 * Failed attempts ride on BullMQ's own per-job `stacktrace` list: the worker throws an error whose `stack` is the
 * entry's JSON, and BullMQ stores it in the same Redis call that moves the job to delayed/failed. The history thus
 * costs no extra round trip, survives replays (BullMQ keeps `stacktrace` on retry) and is read back with the job.
 */
export function encodeAttempt(entry: AttemptEntry): string {
  return JSON.stringify(entry);
}

export function decodeAttempts(stacktrace: readonly string[] | null | undefined): AttemptEntry[] {
  const entries: AttemptEntry[] = [];
  for (const raw of stacktrace ?? []) {
    try {
      const parsed = JSON.parse(raw) as AttemptEntry;
      if (parsed && typeof parsed === 'object' && typeof parsed.class === 'string') {
        entries.push(parsed);
        continue;
      }
    } catch {
      // A stack that is not ours: BullMQ's own failures (stalled jobs, a crashed processor).
    }
    entries.push({ at: '', http_status: 'network', class: 'retryable', latency_ms: 0, code: 'worker_error', message: raw.split('\n')[0] ?? raw });
  }
  return entries;
}

/** Counted attempts since the last terminal entry: the attempts of the current run (a replay starts afresh). */
export function attemptsInRun(history: readonly AttemptEntry[]): number {
  let count = 0;
  for (let i = history.length - 1; i >= 0; i--) {
    const entry = history[i]!;
    if (entry.terminal) break;
    if (!entry.uncounted) count++;
  }
  return count;
}

/** True when an earlier call of this run may have reached the provider but its answer was lost. */
export function hadLostAnswer(history: readonly AttemptEntry[]): boolean {
  for (let i = history.length - 1; i >= 0; i--) {
    const entry = history[i]!;
    if (entry.terminal) return false;
    // Entries stored before `lost_answer` existed say it through their status or code.
    if (entry.lost_answer || entry.http_status === 'timeout' || entry.code === 'undocumented_body') return true;
  }
  return false;
}

/**
 * True when the latest provider call of the current run failed: its failures (`history`, counted or not) and its
 * steps that succeeded without ending the job (`steps`, job progress) are compared by start time. No call yet, or a
 * latest call that succeeded, is false. An open circuit backs such a job's probes off (workers/circuit.ts).
 */
export function lastCallFailed(history: readonly AttemptEntry[], steps: readonly AttemptEntry[]): boolean {
  const end = history.findLastIndex((entry) => entry.terminal);
  const runStart = end >= 0 ? history[end]!.at : '';
  let latest: AttemptEntry | undefined;
  for (const entry of [...history.slice(end + 1), ...steps]) {
    if (!entry.at || entry.at <= runStart) continue; // BullMQ's own failures carry no time; earlier runs are over
    if (!latest || entry.at >= latest.at) latest = entry;
  }
  return latest !== undefined && latest.class !== 'success';
}

/**
 * The successful call of a run as BullMQ keeps it in the job's return value, with every record kept for
 * RETENTION_DAYS (issue 18: bytes per kept record): its class and end are implied, its time is epoch ms.
 */
export type StoredSuccess = Omit<AttemptEntry, 'at' | 'class' | 'terminal'> & { at: number };

export function storeSuccess(entry: AttemptEntry): StoredSuccess {
  // A copy by key rather than rest destructuring: once per job on the worker's hot path, at a third of the cost.
  const stored = { at: Date.parse(entry.at) } as StoredSuccess & Record<string, unknown>;
  for (const key in entry) if (key !== 'at' && key !== 'class' && key !== 'terminal') stored[key] = entry[key as keyof AttemptEntry];
  return stored;
}

/** A stored success read back as a history entry; an entry stored in full before this form existed is kept as it is. */
export function readSuccess(stored: StoredSuccess | AttemptEntry): AttemptEntry {
  if (typeof stored.at === 'string') return stored as AttemptEntry;
  return { ...stored, at: new Date(stored.at).toISOString(), class: 'success', terminal: true };
}
