import { createBullBoard } from '@bull-board/api';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { DeadLetters } from '../operations/dead-letters.js';
import type { QueueCatalog } from '../operations/queue-catalog.js';
import { basicAuth } from './auth.js';
import { registerBoardGuard } from './board-guard.js';
import { queuePolicy, type QueuePolicy } from './board-policy.js';
import { boardAdapter, readableAttempts } from './board-view.js';

export const BOARD_PATH = '/admin/queues';

export interface BoardDeps {
  /** Every provider queue (each shard) and the callbacks queue are on the board (CONTRACT §5). */
  catalog: QueueCatalog;
  credentials: { username: string; password: string };
  deadLetters: DeadLetters;
}

/**
 * Bull Board behind HTTP Basic (CONTRACT §5). Dead letters are each provider's failed jobs, shown with their reason and
 * every provider answer; what the board may change is each queue's policy (`board-policy.ts`), enforced on its HTTP
 * routes by `board-guard.ts`, which also sends its replays through the shared dead-letter path.
 */
export async function registerBoard(app: FastifyInstance, deps: BoardDeps): Promise<void> {
  const policies = new Map<string, QueuePolicy>(deps.catalog.all().map((entry) => [entry.name, queuePolicy(entry.kind)]));
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: deps.catalog.all().map((entry) => boardAdapter(entry, policies.get(entry.name)!)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'fiscal-worker', hideDocsLink: true }, handlerHooks: { after: (_context, result) => readableAttempts(result) } },
  });
  await app.register(async (scope) => {
    scope.decorateRequest('boardUser', undefined);
    scope.decorateRequest('boardChange', undefined);
    scope.addHook('onRequest', basicAuth(deps.credentials.username, deps.credentials.password));
    registerBoardGuard(scope, {
      basePath: BOARD_PATH,
      policies,
      catalog: deps.catalog,
      replay: (request) => deps.deadLetters.replay(request),
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  });
}
