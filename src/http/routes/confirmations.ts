import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ConfirmationIntake, EnqueueOutcome } from '../../domain/enqueue.js';
import { providerOfRecordId } from '../../domain/ids.js';
import { describeProblems } from '../../domain/problems.js';
import type { RecordStore, RecordView } from '../../records/record-store.js';
import { findSpec } from '../../providers/index.js';
import { ApiError } from '../errors.js';

export const BATCH_LIMIT = 1000;

export interface ConfirmationRouteDeps {
  producer: ConfirmationIntake;
  records: RecordStore;
}

const BatchBody = z.object({ items: z.array(z.unknown(), { error: 'items must be an array of confirmations' }) }, { error: 'body must be an object with items' });
const FindQuery = z.object({ payment_id: z.string().min(1).optional(), reference: z.string().min(1).optional() });

/** The record of a confirmation just accepted, built from what was sent: no read needed to answer 202. */
function queuedRecord(outcome: { id: string; provider: string }, body: Record<string, unknown>): RecordView {
  const view: RecordView = {
    id: outcome.id,
    provider: outcome.provider,
    state: 'queued',
    attempts: 0,
    created_at: new Date().toISOString(),
    finished_at: null,
    result: null,
    error: null,
    reference: typeof body.reference === 'string' ? body.reference : null,
    history: [],
  };
  for (const field of ['payment_id', 'transaction_id'] as const) if (typeof body[field] === 'string') view[field] = body[field];
  return view;
}

function outcomeError(outcome: EnqueueOutcome): ApiError | undefined {
  if (outcome.result === 'invalid') return new ApiError('invalid_body', describeProblems(outcome.problems), outcome.problems);
  if (outcome.result === 'conflict') return new ApiError('conflict', outcome.message, { id: outcome.id });
  return undefined;
}

export async function confirmationRoutes(app: FastifyInstance, deps: ConfirmationRouteDeps): Promise<void> {
  const { producer, records } = deps;

  app.post('/v1/confirmations', async (request, reply) => {
    const outcome = await producer.enqueue(request.body);
    const error = outcomeError(outcome);
    if (error) throw error;
    const accepted = outcome as Extract<EnqueueOutcome, { result: 'created' | 'duplicate' }>;
    if (accepted.result === 'created') return reply.status(202).send(queuedRecord(accepted, request.body as Record<string, unknown>));
    const record = await records.get(accepted.id);
    return reply.status(200).send(record);
  });

  app.post('/v1/confirmations/batch', async (request) => {
    const parsed = BatchBody.safeParse(request.body);
    if (!parsed.success) throw new ApiError('invalid_body', parsed.error.issues[0]?.message ?? 'body must be {"items": [...]}');
    const { items } = parsed.data;
    if (items.length > BATCH_LIMIT) {
      throw new ApiError('too_many_items', `a batch takes at most ${BATCH_LIMIT} items; this one has ${items.length}`, { limit: BATCH_LIMIT, received: items.length });
    }
    const outcomes = await producer.enqueueMany(items);
    const results = await Promise.all(
      outcomes.map(async (outcome, index) => {
        const error = outcomeError(outcome);
        if (error) return { index, ...(outcome.result === 'conflict' ? { id: outcome.id } : {}), ...error.body() };
        const { id } = outcome as { id: string };
        const state = outcome.result === 'created' ? 'queued' : ((await records.get(id))?.state ?? 'queued');
        return { index, id, state, duplicate: outcome.result === 'duplicate' };
      }),
    );
    return { results };
  });

  app.get<{ Params: { id: string } }>('/v1/confirmations/:id', async (request) => {
    const { id } = request.params;
    const record = findSpec(providerOfRecordId(id))?.kind === 'confirmation' ? await records.get(id) : undefined;
    if (!record) throw new ApiError('not_found', `no confirmation with id ${id}`);
    return record;
  });

  app.get('/v1/confirmations', async (request) => {
    const query = FindQuery.safeParse(request.query);
    if (!query.success || (!query.data.payment_id && !query.data.reference)) {
      throw new ApiError('invalid_query', 'give payment_id=… or reference=… to find confirmations');
    }
    const { payment_id, reference } = query.data;
    let items = payment_id ? await records.findByPaymentId(payment_id) : await records.findByReference(reference!);
    if (payment_id && reference) items = items.filter((r: RecordView) => r.reference === reference);
    return { items };
  });
}
