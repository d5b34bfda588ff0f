import { setTimeout as sleep } from 'node:timers/promises';
import type { Deadline } from '../../domain/enqueue.js';
import type { RecordStore, RecordView } from '../../records/record-store.js';
import { ApiError } from '../errors.js';

const FIRST_POLL_MS = 25;
const MAX_POLL_MS = 500;

export const isFinished = (record: RecordView | undefined): boolean => record?.state === 'succeeded' || record?.state === 'dead';

/**
 * Reads a record until it is succeeded or dead, `waitMs` passes, or `signal` aborts (the server is closing): the last
 * read either way. Polling, gently backing off, keeps this free of extra Redis connections (BullMQ's QueueEvents would
 * need a blocking one per process) at a cost of a few reads a second per waiting request. The first read is under the
 * request's own deadline (`first`), so a Redis that froze right after the store still answers 503 within 5 s of arrival.
 */
export async function readWhenFinished(records: RecordStore, id: string, waitMs: number, signal: AbortSignal, first: Deadline): Promise<RecordView | undefined> {
  const deadline = Date.now() + waitMs;
  let pause = FIRST_POLL_MS;
  let within: Deadline | undefined = first;
  for (;;) {
    let record: RecordView | undefined;
    try {
      record = await records.get(id, within ? { within } : {});
      within = undefined;
    } catch (err) {
      throw new ApiError('unavailable', `Redis stopped answering while waiting for ${id}; it was accepted: repeat the request to read it`, undefined, { cause: err });
    }
    const left = deadline - Date.now();
    if (isFinished(record) || left <= 0 || signal.aborted) return record;
    try {
      await sleep(Math.min(pause, left), undefined, { signal });
    } catch {
      // Aborted: answer with what there is now.
    }
    pause = Math.min(pause * 2, MAX_POLL_MS);
  }
}
