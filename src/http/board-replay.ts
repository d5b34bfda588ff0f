import type { Provider } from '../domain/provider.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { Logger } from '../observability/logger.js';
import type { DeadLetters } from '../workers/dead-letters.js';

/*
 * Seam to the shared dead-letter replay path. The lead's `DeadLetters` rewrite (issue 16, HELPERS.md) takes one
 * `ReplayRequest` and writes the audit line itself; until it lands this adapter runs today's one-id
 * `replayDeadLetter` and writes the line. After the merge: import the three types from `workers/dead-letters.js`
 * and make `replayDeadLetters` `return deps.deadLetters.replay(request)`.
 */

export interface Actor {
  via: 'api' | 'cli' | 'board';
  name: string;
}

export interface ReplayRequest {
  ids?: string[];
  provider?: string;
  all?: boolean;
  force?: boolean;
  actor: Actor;
  onProgress?: (done: number, total: number) => void;
}

export interface ReplayReport {
  replayed: number;
  skipped: { id: string; reason: string; message: string }[];
}

export interface ReplayDeps {
  deadLetters: DeadLetters;
  queues: ProviderQueues;
  logger: Logger;
}

/** Replays run a few at a time: each is three Redis round trips, and a queue can hold thousands of dead letters. */
const REPLAY_CONCURRENCY = 20;
/** At most this many ids are written into one audit line; `requested` always says how many there were. */
const AUDIT_IDS = 100;

export async function replayDeadLetters(deps: ReplayDeps, request: ReplayRequest): Promise<ReplayReport> {
  const ids = request.ids ?? (request.provider ? await deps.queues.get(request.provider as Provider).getRanges(['failed'], 0, -1) : []);
  const report: ReplayReport = { replayed: 0, skipped: [] };
  for (let start = 0; start < ids.length; start += REPLAY_CONCURRENCY) {
    const results = await Promise.all(ids.slice(start, start + REPLAY_CONCURRENCY).map((id) => deps.deadLetters.replayDeadLetter(id, { force: request.force ?? false })));
    for (const result of results) {
      if (result.replayed) report.replayed++;
      else report.skipped.push({ id: result.id, reason: result.reason, message: result.message });
    }
    request.onProgress?.(Math.min(start + REPLAY_CONCURRENCY, ids.length), ids.length);
  }
  deps.logger.info(
    {
      audit: 'replay',
      actor: request.actor,
      provider: request.provider,
      force: request.force ?? false,
      requested: ids.length,
      ids: ids.slice(0, AUDIT_IDS),
      replayed: report.replayed,
      skipped: report.skipped.map(({ id, reason }) => ({ id, reason })).slice(0, AUDIT_IDS),
    },
    'dead letters replayed',
  );
  return report;
}
