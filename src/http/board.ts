import { createBullBoard } from '@bull-board/api';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { Provider } from '../domain/provider.js';
import type { ProviderQueues } from '../infra/queues.js';
import type { Logger } from '../observability/logger.js';
import type { DeadLetters } from '../workers/dead-letters.js';
import { basicAuth } from './auth.js';
import { registerBoardGuard } from './board-guard.js';
import { queuePolicy, type QueuePolicy } from './board-policy.js';
import { replayDeadLetters } from './board-replay.js';
import { boardAdapter, readableAttempts } from './board-view.js';

export const BOARD_PATH = '/admin/queues';

export interface BoardDeps {
  queues: ProviderQueues;
  /** Every provider queue is on the board (built from the provider list, CONTRACT §5). */
  providers: readonly Provider[];
  credentials: { username: string; password: string };
  deadLetters: DeadLetters;
  logger: Logger;
}

/**
 * Bull Board behind HTTP Basic (CONTRACT §5). Dead letters are each provider's failed jobs, shown with their reason and
 * every provider answer; what the board may change is each queue's policy (`board-policy.ts`), enforced on its HTTP
 * routes by `board-guard.ts`, which also sends its replays through the shared dead-letter path.
 */
export async function registerBoard(app: FastifyInstance, deps: BoardDeps): Promise<void> {
  const policies = new Map<string, QueuePolicy>(deps.providers.map((p) => [p, queuePolicy(p)]));
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: deps.providers.map((p) => boardAdapter(deps.queues.get(p), policies.get(p)!)),
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
      queues: deps.queues,
      replay: (request) => replayDeadLetters({ deadLetters: deps.deadLetters, queues: deps.queues, logger: deps.logger }, request),
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  });
}
