/**
 * An operator's explicit "send it again" (issue 15): a replay with `force` of a record that may already have reached its
 * provider (an `ambiguous` charge) leaves this mark on the job's progress, naming the run it allows. The processor
 * sends such a charge again only in that run; any other way a job can start again (a board button, BullMQ's own retry,
 * a stalled job) finds no mark for its run and ends dead again, saying a forced replay is needed.
 */
export interface ForcedReplay {
  /** The run this replay starts (workers/job-progress.ts `currentRun`): the mark is worth that run only. */
  run: number;
  by: { via: string; name: string };
  at: string;
}

const KEY = 'forced';

/** The job's progress with the mark for `run`, keeping everything else it holds. */
export function forceMark(progress: unknown, run: number, by: ForcedReplay['by'], now = new Date()): Record<string, unknown> {
  const base = progress && typeof progress === 'object' ? (progress as Record<string, unknown>) : {};
  return { ...base, [KEY]: { run, by, at: now.toISOString() } satisfies ForcedReplay };
}

/** The run an operator forced, if any. */
export function forcedRun(progress: unknown): number | undefined {
  const mark = progress && typeof progress === 'object' ? (progress as Record<string, unknown>)[KEY] : undefined;
  const run = mark && typeof mark === 'object' ? (mark as Partial<ForcedReplay>).run : undefined;
  return typeof run === 'number' ? run : undefined;
}
