import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { BATCH_LIMIT, type AcceptedOutcome, type ConfirmationIntake, type EnqueueOutcome } from '../../domain/enqueue.js';
import { providerOfRecordId } from '../../domain/ids.js';
import { describeProblems } from '../../domain/problems.js';
import { REFERENCE_PAGE_DEFAULT, REFERENCE_PAGE_MAX, type RecordStore, type RecordView } from '../../records/record-store.js';
import { findSpec } from '../../providers/index.js';
import { ApiError } from '../errors.js';


export interface ConfirmationRouteDeps {
  producer: ConfirmationIntake;
  records: RecordStore;
}

const BatchBody = z.object({ items: z.array(z.unknown(), { error: 'items must be an array of confirmations' }) }, { error: 'body must be an object with items' });
const FindQuery = z.object({
  payment_id: z.string({ error: 'payment_id must be given once' }).min(1, 'payment_id must not be empty').max(128, 'payment_id must be at most 128 characters').optional(),
  reference: z.string({ error: 'reference must be given once' }).min(1, 'reference must not be empty').max(200, 'reference must be at most 200 characters').optional(),
  limit: z.coerce
    .number({ error: `limit must be a whole number from 1 to ${REFERENCE_PAGE_MAX}` })
    .int(`limit must be a whole number from 1 to ${REFERENCE_PAGE_MAX}`)
    .min(1, `limit must be a whole number from 1 to ${REFERENCE_PAGE_MAX}`)
    .max(REFERENCE_PAGE_MAX, `limit must be a whole number from 1 to ${REFERENCE_PAGE_MAX}`)
    .default(REFERENCE_PAGE_DEFAULT),
  cursor: z
    .string({ error: 'cursor must be given once' })
    .min(1, 'cursor must not be empty: leave it out for the first page')
    .max(1000, 'cursor is not one this API handed out (too long); start again without it')
    .optional(),
});

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
    const { deadline } = request;
    const outcome = await producer.enqueue(request.body, { within: deadline.within });
    const error = outcomeError(outcome);
    if (error) throw error;
    const accepted = outcome as AcceptedOutcome;
    if (accepted.result === 'created') return reply.status(202).send(queuedRecord(accepted, request.body as Record<string, unknown>));
    const record = await records.get(accepted.id, { within: deadline.within, signal: deadline.signal });
    return reply.status(200).send(record);
  });

  app.post('/v1/confirmations/batch', async (request) => {
    const parsed = BatchBody.safeParse(request.body);
    if (!parsed.success) throw new ApiError('invalid_body', parsed.error.issues[0]?.message ?? 'body must be {"items": [...]}');
    const { items } = parsed.data;
    if (items.length > BATCH_LIMIT) {
      throw new ApiError('too_many_items', `a batch takes at most ${BATCH_LIMIT} items; this one has ${items.length}`, { limit: BATCH_LIMIT, received: items.length });
    }
    const { deadline } = request;
    const outcomes = await producer.enqueueMany(items, { within: deadline.within });
    const results = await Promise.all(
      outcomes.map(async (outcome, index) => {
        const error = outcomeError(outcome);
        if (error) return { index, ...(outcome.result === 'conflict' ? { id: outcome.id } : {}), ...error.body() };
        const { id } = outcome as AcceptedOutcome;
        // Only a duplicate is read back, for its current state; what was just created is queued.
        const state = outcome.result === 'created' ? 'queued' : ((await records.get(id, { within: deadline.within, signal: deadline.signal }))?.state ?? 'queued');
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
    if (!query.success) throw new ApiError('invalid_query', query.error.issues.map((i) => i.message).join('; '));
    const { payment_id, reference, limit, cursor } = query.data;
    if (!payment_id && !reference) throw new ApiError('invalid_query', 'give payment_id=… or reference=… to find confirmations');
    const { within, signal } = request.deadline;
    if (payment_id) {
      // One record per confirmation provider at most: nothing to page.
      const items = await records.findByPaymentId(payment_id, { within, signal });
      return { items: reference ? items.filter((r: RecordView) => r.reference === reference) : items, next_cursor: null };
    }
    return records.findByReference(reference!, { limit, ...(cursor ? { cursor } : {}) }, { within, signal });
  });
}
