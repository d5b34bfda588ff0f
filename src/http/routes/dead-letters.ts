import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Actor, DeadLetters } from '../../operations/dead-letters.js';
import { ANONYMOUS_API_CLIENT } from '../auth.js';
import { ApiError } from '../errors.js';

export const DEAD_LETTER_PAGE_DEFAULT = 100;
export const DEAD_LETTER_PAGE_MAX = 1000;
/** Ids in one replay request; more go by provider or all (or the CLI, which pages). */
export const REPLAY_IDS_MAX = 10_000;

export interface DeadLetterRouteDeps {
  deadLetters: DeadLetters;
}

const limit = z.coerce
  .number({ error: `limit must be a whole number from 1 to ${DEAD_LETTER_PAGE_MAX}` })
  .int(`limit must be a whole number from 1 to ${DEAD_LETTER_PAGE_MAX}`)
  .min(1, `limit must be a whole number from 1 to ${DEAD_LETTER_PAGE_MAX}`)
  .max(DEAD_LETTER_PAGE_MAX, `limit must be a whole number from 1 to ${DEAD_LETTER_PAGE_MAX}`)
  .default(DEAD_LETTER_PAGE_DEFAULT);

const ListQuery = z.object({ provider: z.string().min(1).max(64).optional(), limit, cursor: z.string().min(1).max(1000).optional() });

const recordId = z.string().min(1, 'an id must not be empty').max(512, 'an id is at most 512 characters');

/** CONTRACT §3: `{"ids":[…]}` or `{"provider":"uzum"}` or `{"all":true}`, optionally `"force":true`. */
const ReplayBody = z
  .strictObject({
    ids: z.array(recordId, { error: 'ids must be an array of record ids' }).min(1, 'ids must not be empty').max(REPLAY_IDS_MAX, `at most ${REPLAY_IDS_MAX} ids; replay by provider or all for more`).optional(),
    provider: z.string().min(1).max(64).optional(),
    all: z.literal(true, { error: 'all must be true' }).optional(),
    force: z.boolean({ error: 'force must be true or false' }).optional(),
  })
  .refine((body) => [body.ids, body.provider, body.all].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of ids, provider or all',
  });

const actorOf = (request: FastifyRequest): Actor => ({ via: 'api', name: request.apiClient ?? ANONYMOUS_API_CLIENT });

/** Dead letters by API (CONTRACT §3, §5): the same path as the CLI and the board's buttons (operations/dead-letters.ts). */
export async function deadLetterRoutes(app: FastifyInstance, deps: DeadLetterRouteDeps): Promise<void> {
  const { deadLetters } = deps;

  const knownScope = (provider: string | undefined) => {
    if (provider !== undefined && !deadLetters.scope(provider)) {
      const names = [...new Set(deadLetters.scope()!.map((q) => q.owner))];
      throw new ApiError('invalid_query', `provider ${provider} has no dead letters here; one of ${names.join(', ')}`);
    }
  };

  app.get('/v1/dead-letters', async (request) => {
    const query = ListQuery.safeParse(request.query);
    if (!query.success) throw new ApiError('invalid_query', query.error.issues.map((i) => i.message).join('; '));
    knownScope(query.data.provider);
    return request.deadline.within(deadLetters.list(query.data));
  });

  app.post('/v1/dead-letters/replay', async (request) => {
    const body = ReplayBody.safeParse(request.body);
    if (!body.success) throw new ApiError('invalid_body', body.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
    if (body.data.provider !== undefined) knownScope(body.data.provider);
    const { ids, provider, all, force } = body.data;
    return deadLetters.replay({ ...(ids ? { ids } : {}), ...(provider ? { provider } : {}), ...(all ? { all } : {}), ...(force ? { force } : {}), actor: actorOf(request) });
  });

  app.delete<{ Params: { id: string } }>('/v1/dead-letters/:id', async (request, reply) => {
    const removed = await request.deadline.within(deadLetters.remove(request.params.id, actorOf(request)));
    if (!removed) throw new ApiError('not_found', `no dead letter with id ${request.params.id}`);
    return reply.status(204).send();
  });
}
