import type { Job, JobState } from 'bullmq';
import { isProvider } from '../domain/provider.js';
import type { ProviderQueues } from '../infra/queues.js';
import { toRecordView } from '../records/record-view.js';
import { currentRun } from '../workers/job-progress.js';
import { runOfFinished, type CallbackJobData, type TerminalState } from './events.js';

/** Reads a record's job and state from its queue; undefined when the job is gone. */
export type RecordReader = (queue: string, id: string) => Promise<{ job: Job; state: JobState | 'unknown' } | undefined>;

/** Reads records from their provider queues (two reads, auto-pipelined on the api connection). */
export function recordReader(queues: ProviderQueues): RecordReader {
  return async (queue, id) => {
    if (!isProvider(queue)) return undefined;
    // The record's own queue: its provider's, or the shard its id hashes to.
    const found = queues.forRecord(id);
    if (!found) return undefined;
    const [job, state] = await Promise.all([found.queue.getJob(id), found.queue.getJobState(id)]);
    return job ? { job, state } : undefined;
  };
}

export type Capture =
  | { kind: 'ready'; body: string }
  /** The record has not stored its terminal state (yet): ask again later. */
  | { kind: 'pending'; state: string }
  /** Nothing to send for this event. */
  | { kind: 'skip'; reason: 'record_gone' | 'superseded'; message: string };

const TERMINAL: Partial<Record<JobState | 'unknown', TerminalState>> = { completed: 'succeeded', failed: 'dead' };

/**
 * The record as it stood when the event happened, read once, at the callback's first run (right after the terminal
 * state was stored, or a grace period later when the process that stored it died first). Once captured it is kept on
 * the callback job, so every retry sends the same bytes.
 *
 * A callback is scheduled just before its record's terminal state is stored (scheduler.ts), so it may find the record
 * still running: the store is in flight, or its worker died and the job runs again as a stalled job. Those wait. When
 * the record has since ended otherwise (another state, a later run), this event never happened as scheduled: skipped,
 * the record's actual end has its own callback.
 */
export async function captureRecord(read: RecordReader, data: CallbackJobData): Promise<Capture> {
  const found = await read(data.queue, data.record_id);
  if (!found) return { kind: 'skip', reason: 'record_gone', message: `record ${data.record_id} no longer exists (removed after RETENTION_DAYS or by an operator)` };
  const { job, state } = found;
  const terminal = TERMINAL[state];
  if (!terminal) {
    if (currentRun(job) > data.run) return superseded(data, `it was replayed and is ${state} in a later run`);
    return { kind: 'pending', state };
  }
  const run = runOfFinished(job, terminal);
  if (terminal !== data.state || run !== data.run) return superseded(data, `it ended ${terminal} in run ${run}`);
  const view = toRecordView(job, state);
  if (!view) return { kind: 'pending', state };
  return { kind: 'ready', body: JSON.stringify(view) };
}

function superseded(data: CallbackJobData, what: string): Capture {
  return { kind: 'skip', reason: 'superseded', message: `record ${data.record_id} did not end ${data.state} in run ${data.run}: ${what}` };
}
