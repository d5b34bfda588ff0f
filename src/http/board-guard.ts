import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor, ReplayReport, ReplayRequest } from '../operations/dead-letters.js';
import type { QueueCatalog } from '../operations/queue-catalog.js';
import { ANONYMOUS_BOARD_USER } from './auth.js';
import { boardActionOf, type BoardAction, type QueuePolicy } from './board-policy.js';
import { ApiError, type ErrorCode } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** A board change let through to bull-board's own handler, audit-logged once it succeeded. */
    boardChange?: { action: BoardAction; route: string; queue?: string; jobId?: string };
  }
}

export interface BoardGuardDeps {
  /** Where the board is mounted (`/admin/queues`): stripped from fastify's route pattern to find the action. */
  basePath: string;
  /** Queue name → its policy; every queue on the board has one. */
  policies: ReadonlyMap<string, QueuePolicy>;
  catalog: QueueCatalog;
  replay: (request: ReplayRequest) => Promise<ReplayReport>;
}

/** bull-board's own `clean` grace period (handlers/cleanAll.js), so a job finishing this instant is left alone. */
const CLEAN_GRACE_MS = 5000;
const CLEANABLE = new Set(['completed', 'wait', 'waiting', 'active', 'paused', 'prioritized', 'delayed', 'failed']);
const AUDIT_IDS = 100;
const UNCLASSIFIED = 'fiscal-worker does not know this bull-board route, so it is refused';

/**
 * Enforces the queues' board policies on the HTTP routes, whatever the UI shows (issue 15), and puts every change the
 * board makes in the audit log with its user (issue 16). Replays are taken out of bull-board's hands: its retry
 * handlers call `job.retry()` directly, which would resend an ambiguous charge or receipt create; here they go through
 * the shared replay path and are answered with the status and body bull-board's UI expects.
 */
export function registerBoardGuard(scope: FastifyInstance, deps: BoardGuardDeps): void {
  scope.addHook('preHandler', async (request, reply) => {
    const route = (request.routeOptions.url ?? '').slice(deps.basePath.length);
    const action = boardActionOf(request.method, route);
    if (action === null) return;
    const params = request.params as Record<string, string | undefined>;
    const actor: Actor = { via: 'board', name: request.boardUser ?? ANONYMOUS_BOARD_USER };
    const queue = params.queueName;
    const refusal = action === 'unknown' ? UNCLASSIFIED : refusalOf(deps.policies, action, queue);
    if (refusal !== undefined || action === 'unknown') {
      request.log.warn({ audit: 'board_refused', actor, action, route, queue }, 'board action refused');
      return answer(reply, boardError('forbidden', `${queue ?? 'board'}: ${action} refused; ${refusal}`, 'ERRORS.FORBIDDEN'));
    }
    if (action === 'retry' && queue && params.jobId) return answer(reply, await retryOne(deps, actor, queue, params.jobId));
    if (action === 'retry_all' && queue) return answer(reply, await retryAll(deps, actor, queue, params.queueStatus ?? ''));
    if (action === 'clean' && queue) return answer(reply, await clean(deps, request, actor, queue, params.queueStatus ?? ''));
    request.boardChange = { action, route, ...(queue ? { queue } : {}), ...(params.jobId ? { jobId: params.jobId } : {}) };
  });

  scope.addHook('onResponse', async (request, reply) => {
    const change = request.boardChange;
    if (!change || reply.statusCode >= 400) return;
    const actor: Actor = { via: 'board', name: request.boardUser ?? ANONYMOUS_BOARD_USER };
    request.log.info({ audit: change.action, actor, route: change.route, queue: change.queue, ...(change.jobId ? { ids: [change.jobId] } : {}) }, 'board action done');
  });
}

/** Why the action is refused: by the queue's policy, or for a board-wide action by any queue it would touch. */
function refusalOf(policies: ReadonlyMap<string, QueuePolicy>, action: BoardAction, queue: string | undefined): string | undefined {
  // A queue the board does not know is answered 404 by bull-board itself; a read-only queue is left out of the
  // board-wide pause/resume by bull-board (handlers/pauseAll.js).
  const touched = queue ? [policies.get(queue)] : [...policies.values()].filter((p) => !p.readOnlyMode);
  const refusing = touched.find((policy) => policy !== undefined && !policy.allowed.has(action));
  return refusing ? refusing.refusal || 'this action is not allowed on the board' : undefined;
}

interface BoardAnswer {
  status: number;
  body?: unknown;
}

/**
 * The API's error shape (CONTRACT §3), plus the two fields bull-board's UI reads to show a toast: `error.key` (a
 * translation key for the title) and a top-level `message` (the description).
 */
function boardError(code: ErrorCode, message: string, key: string, options?: Record<string, string>, details?: unknown): BoardAnswer {
  const error = new ApiError(code, message, details);
  return { status: error.status, body: { error: { ...error.body().error, key, ...(options ? { options } : {}) }, message } };
}

async function answer(reply: FastifyReply, result: BoardAnswer): Promise<FastifyReply> {
  return result.body === undefined ? reply.code(result.status).send() : reply.code(result.status).send(result.body);
}

/** One dead letter: bull-board answers 204 and an empty body when it was retried (handlers/retryJob.js). */
async function retryOne(deps: BoardGuardDeps, actor: Actor, queue: string, jobId: string): Promise<BoardAnswer> {
  // The id names its queue; a job of another queue must not be replayed under this queue's policy.
  if (deps.catalog.ofJob(jobId)?.name !== queue) return boardError('not_found', `queue ${queue} has no job ${jobId}`, 'ERRORS.JOB_NOT_FOUND');
  const report = await deps.replay({ ids: [jobId], actor });
  const skipped = report.skipped[0];
  if (!skipped) return { status: 204 };
  if (skipped.reason === 'not_found') return boardError('not_found', skipped.message, 'ERRORS.JOB_NOT_FOUND');
  return boardError('conflict', skipped.message, 'ERRORS.JOB_NOT_RETRIABLE', { state: skipReasonLabel(skipped.reason) }, { skipped: report.skipped });
}

/** A queue's dead letters: bull-board answers 200 `{retried, skipped}` (handlers/retryAll.js). */
async function retryAll(deps: BoardGuardDeps, actor: Actor, queue: string, status: string): Promise<BoardAnswer> {
  if (status !== 'failed') {
    return boardError('forbidden', `${queue}: only dead letters (failed) are replayed from the board, not ${status} jobs`, 'ERRORS.STATUS_NOT_RETRIABLE', { status });
  }
  const report = await deps.replay({ queue, actor });
  const first = report.skipped[0];
  if (!first) return { status: 200, body: { retried: report.replayed, skipped: 0 } };
  // bull-board's UI words a skipped count as lost job data; ours are refusals, so they are told as an error instead.
  const total = report.replayed + report.skipped.length;
  const message = `replayed ${report.replayed} of ${total} dead letters; ${report.skipped.length} skipped, e.g. ${first.message}`;
  return boardError('conflict', message, 'ERRORS.JOB_NOT_RETRIABLE', { state: skipReasonLabel(first.reason) }, { replayed: report.replayed, skipped: report.skipped });
}

function skipReasonLabel(reason: string): string {
  if (reason === 'needs_force') return 'ambiguous';
  if (reason === 'not_dead') return 'not dead';
  return reason;
}

/** Every job of a queue in one state, removed as bull-board does it, so the audit line can say exactly which. */
async function clean(deps: BoardGuardDeps, request: FastifyRequest, actor: Actor, queue: string, status: string): Promise<BoardAnswer> {
  if (!CLEANABLE.has(status)) {
    return boardError('invalid_query', `queueStatus must be one of ${[...CLEANABLE].join(', ')}, not ${status}`, 'ERRORS.INVALID_QUERY_PARAM', { field: 'queueStatus' });
  }
  const named = deps.catalog.named(queue);
  if (!named) return boardError('not_found', `no queue ${queue}`, 'ERRORS.QUEUE_NOT_FOUND');
  const removed = await named.queue.clean(CLEAN_GRACE_MS, Number.MAX_SAFE_INTEGER, status as 'failed');
  request.log.info({ audit: 'clean', actor, queue, status, count: removed.length, ids: removed.slice(0, AUDIT_IDS) }, 'board jobs removed');
  return { status: 200, body: {} };
}
