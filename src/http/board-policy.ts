import type { QueueKind } from '../operations/queue-catalog.js';

/**
 * What Bull Board may do to each queue (issue 15, CONTRACT §5). bull-board 9.10.1 has two switches per queue:
 * `readOnlyMode` (enforced by its API: every mutating route answers 405) and `allowRetries` (only hides the retry
 * buttons: its retry routes do not read it). Neither can allow retries while forbidding "add" or "update data".
 * So the policy is ours, enforced on the HTTP routes by `board-guard.ts`, and the switches only make the UI match it.
 */

/** Everything the board's API can change, one name per kind of change. */
export type BoardAction =
  | 'retry' // one dead letter, through the shared replay path
  | 'retry_all' // a queue's dead letters, through the shared replay path
  | 'remove' // one job (the UI's "clean" on a job), or a job's unprocessed children
  | 'clean' // every job of a queue in one state
  | 'add' // a new job, also the UI's "duplicate": its data never went through the API's validation
  | 'update_data' // a job's data replaced
  | 'promote'
  | 'reschedule' // a delayed job's delay or a job's priority
  | 'pause' // pause or resume a queue (or every queue)
  | 'limits' // global concurrency and rate limit
  | 'empty'
  | 'obliterate'
  | 'schedulers';

export const BOARD_ACTIONS: readonly BoardAction[] = [
  'retry',
  'retry_all',
  'remove',
  'clean',
  'add',
  'update_data',
  'promote',
  'reschedule',
  'pause',
  'limits',
  'empty',
  'obliterate',
  'schedulers',
];

/**
 * bull-board 9.10.1's mutating API routes (`@bull-board/api/dist/routes.js`), below the board's base path. A mutating
 * route missing here is refused on every queue, so a bull-board upgrade cannot open a hole before it is classified.
 */
const MUTATING_ROUTES: Readonly<Record<string, BoardAction>> = {
  'PUT /api/queues/pause': 'pause',
  'PUT /api/queues/resume': 'pause',
  'POST /api/queues/:queueName/add': 'add',
  'PUT /api/queues/:queueName/retry/:queueStatus': 'retry_all',
  'PUT /api/queues/:queueName/promote': 'promote',
  'PUT /api/queues/:queueName/clean/:queueStatus': 'clean',
  'PUT /api/queues/:queueName/pause': 'pause',
  'PUT /api/queues/:queueName/resume': 'pause',
  'PUT /api/queues/:queueName/concurrency': 'limits',
  'PUT /api/queues/:queueName/rate-limit': 'limits',
  'PUT /api/queues/:queueName/rate-limit/release': 'limits',
  'PUT /api/queues/:queueName/empty': 'empty',
  'PUT /api/queues/:queueName/obliterate': 'obliterate',
  'PUT /api/queues/:queueName/job-schedulers/:schedulerId/remove': 'schedulers',
  'PATCH /api/queues/:queueName/job-schedulers/:schedulerId': 'schedulers',
  'PUT /api/queues/:queueName/job-schedulers/:schedulerId/run': 'schedulers',
  'PUT /api/queues/:queueName/:jobId/retry': 'retry',
  'PUT /api/queues/:queueName/:jobId/clean': 'remove',
  'PUT /api/queues/:queueName/:jobId/promote': 'promote',
  'PATCH /api/queues/:queueName/:jobId/update-data': 'update_data',
  'PATCH /api/queues/:queueName/:jobId/delay': 'reschedule',
  'PATCH /api/queues/:queueName/:jobId/priority': 'reschedule',
  'PUT /api/queues/:queueName/:jobId/remove-unprocessed-children': 'remove',
};

/** A board request: a view (`null`), a known change, or a change we do not know (`unknown`: refused everywhere). */
export function boardActionOf(method: string, route: string): BoardAction | 'unknown' | null {
  if (method === 'GET' || method === 'HEAD') return null;
  return MUTATING_ROUTES[`${method} ${route}`] ?? 'unknown';
}


export interface QueuePolicy {
  kind: QueueKind;
  allowed: ReadonlySet<BoardAction>;
  /** The bull-board switches that make the UI show only what `allowed` lets through (where they can). */
  readOnlyMode: boolean;
  allowRetries: boolean;
  /** Why the rest is refused, for the 403 an operator sees. */
  refusal: string;
}

const POLICIES: Readonly<Record<QueueKind, QueuePolicy>> = {
  // Issue 15: "Confirmation queues keep their buttons". A confirmation repeated with the same receipt is answered
  // as the first one (at-least-once, README), so nothing on them can do harm twice.
  confirmation: {
    kind: 'confirmation',
    allowed: new Set(BOARD_ACTIONS),
    readOnlyMode: false,
    allowRetries: true,
    refusal: '',
  },
  // CONTRACT §5: nothing on the board may charge again or change what is charged. A rejected charge replayed hours
  // later can charge a customer who meanwhile paid another way, and an ambiguous one may already have been charged:
  // a person decides, and replays it through the API or CLI (with `force` when ambiguous).
  payment: {
    kind: 'payment',
    allowed: new Set(),
    readOnlyMode: true,
    allowRetries: false,
    refusal:
      'Payme Go charges are view-only on the board: replay a charge deliberately with POST /v1/dead-letters/replay or `fiscal-worker dead replay` (with force when it is ambiguous)',
  },
  // A replayed receipt create is looked up at the provider first, so a retry never makes a second receipt; an
  // ambiguous one still needs `force` (API/CLI). Adding or editing a job would send data the API never validated;
  // removing one drops the local trace `reconcile freedompay` compares the provider's receipts with.
  // Result callbacks (issue 17): a dead callback is replayed (the receiver is up again) or removed; adding or editing
  // one would POST what the product never built, to wherever it says.
  callback: {
    kind: 'callback',
    allowed: new Set<BoardAction>(['retry', 'retry_all', 'remove', 'clean', 'pause']),
    readOnlyMode: false,
    allowRetries: true,
    refusal: 'on result callbacks the board can replay, remove and pause: a callback is built by the product, never added or edited by hand',
  },
  receipt: {
    kind: 'receipt',
    allowed: new Set<BoardAction>(['retry', 'retry_all', 'pause']),
    readOnlyMode: false,
    allowRetries: true,
    refusal:
      'on Freedom Pay receipts the board can only replay dead letters and pause the queue: adding or editing a job would skip validation, and removing one would hide a receipt from reconcile',
  },
};

export function queuePolicy(kind: QueueKind): QueuePolicy {
  return POLICIES[kind];
}
