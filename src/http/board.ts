import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { basicAuth } from './auth.js';

export const BOARD_PATH = '/admin/queues';

/**
 * Bull Board behind HTTP Basic. Dead letters are each provider's failed jobs, with the failure reason and the attempt
 * history (the job's stack trace entries); its retry buttons replay one or all through the normal provider flow.
 */
export async function registerBoard(app: FastifyInstance, queues: Queue[], credentials: { username: string; password: string }): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { description: `${q.name}: failed = dead letters` })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'fiscal-worker' } },
  });
  await app.register(async (scope) => {
    scope.addHook('onRequest', basicAuth(credentials.username, credentials.password));
    await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  });
}
