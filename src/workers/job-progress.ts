import type { Job } from 'bullmq';
import { decodeAttempts, type AttemptEntry } from '../domain/attempt.js';

/**
 * State a multi-step job keeps between its steps, on the job's `progress` (shown on the board, read with the job, one
 * small write). Failed attempts stay in the job's stacktrace (domain/attempt.ts); provider calls that succeeded but did
 * not end the job (a receipt created or read while still pending) are kept here as `uncounted` entries, so they show
 * in the record's history without spending RETRY_ATTEMPTS.
 */

/** Steps kept per job; a receipt pending for long keeps its latest reads. */
const STEPS_KEPT = 50;

export type JobProgress = Record<string, unknown> & { uncounted?: AttemptEntry[] };

export function readProgress(job: Job): JobProgress {
  return job.progress && typeof job.progress === 'object' ? (job.progress as JobProgress) : {};
}

export async function patchProgress(job: Job, patch: Record<string, unknown>): Promise<void> {
  await job.updateProgress({ ...readProgress(job), ...patch });
}

/** A successful provider call that did not end the job: kept in the history, never counted as an attempt. */
export function stepEntry(entry: AttemptEntry): AttemptEntry {
  const { terminal: _terminal, ...rest } = entry;
  return { ...rest, uncounted: true };
}

export async function recordStep(job: Job, entry: AttemptEntry, patch: Record<string, unknown> = {}): Promise<void> {
  const progress = readProgress(job);
  const uncounted = [...(progress.uncounted ?? []), stepEntry(entry)].slice(-STEPS_KEPT);
  await job.updateProgress({ ...progress, ...patch, uncounted });
}

/**
 * Which run of the job this is: 0 at first, +1 after each dead letter (its terminal entry is in the stacktrace), so a
 * replay is a new run. State tagged with its run is ignored by later runs.
 */
export function currentRun(job: Pick<Job, 'stacktrace'>): number {
  return decodeAttempts(job.stacktrace).filter((entry) => entry.terminal).length;
}
