import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Config } from '../../config/env.js';
import { providerOfRecordId } from '../../domain/ids.js';
import type { ReceiptIntake } from '../../domain/enqueue.js';
import { describeProblems } from '../../domain/problems.js';
import { findSpec, onlySpecOfKind } from '../../providers/index.js';
import type { RecordStore } from '../../records/record-store.js';
import { ApiError } from '../errors.js';

export interface ReceiptRouteDeps {
  receipts: ReceiptIntake;
  records: RecordStore;
}

/**
 * Freedom Pay receipts (seed 004). Without FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY nothing can be signed, so
 * a create answers 503 `not_configured` (a fault of this deployment, not of the request) and stores nothing.
 */
export async function receiptRoutes(app: FastifyInstance, deps: ReceiptRouteDeps): Promise<void> {
  const { receipts, records } = deps;

  app.post('/v1/receipts/freedompay', async (request, reply) => {
    if (!receipts.configured) {
      throw new ApiError('not_configured', 'Freedom Pay receipts are not configured: set FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY');
    }
    const { within, signal } = request.deadline;
    const outcome = await receipts.enqueue(request.body, { within });
    if (outcome.result === 'invalid') throw new ApiError('invalid_body', describeProblems(outcome.problems), outcome.problems);
    if (outcome.result === 'conflict') throw new ApiError('conflict', outcome.message, { id: outcome.id });
    const record = await records.get(outcome.id, { within, signal }).catch((err: unknown) => {
      throw new ApiError('unavailable', `Redis stopped answering after ${outcome.id} was accepted; repeat the request to read it`, undefined, { cause: err });
    });
    if (!record) throw new ApiError('unavailable', `receipt ${outcome.id} was accepted but could not be read back; repeat the request to read it`);
    return reply.status(outcome.result === 'created' ? 202 : 200).send(record);
  });

  app.get<{ Params: { id: string } }>('/v1/receipts/:id', async (request) => {
    const { id } = request.params;
    const record = findSpec(providerOfRecordId(id))?.kind === 'receipt' ? await records.get(id) : undefined;
    if (!record) throw new ApiError('not_found', `no receipt with id ${id}`);
    return record;
  });
}

/** OpenAPI paths of these routes, from the same zod schema that validates the body (the totals rule is described). */
export function receiptOpenApiPaths(config: Readonly<Config>): Record<string, unknown> {
  const body = z.toJSONSchema(onlySpecOfKind('receipt').request(config), { unrepresentable: 'any', io: 'input' });
  const recordRef = { $ref: '#/components/schemas/Record' };
  const error = { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  const ok = (description: string) => ({ description, content: { 'application/json': { schema: recordRef } } });
  return {
    '/v1/receipts/freedompay': {
      post: {
        operationId: 'createFreedomPayReceipt',
        description:
          'Seed 004 create request without merchant_id. The positions (price × quantity) must add up to the settlements, in minor units; a second request for the same payment_id and operation_type is the same receipt.',
        requestBody: { required: true, content: { 'application/json': { schema: body } } },
        responses: { '202': ok('accepted'), '200': ok('already accepted with the same body'), '400': error, '401': error, '409': error, '413': error, '415': error, '503': error },
      },
    },
    '/v1/receipts/{id}': {
      get: {
        operationId: 'getReceipt',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': ok('the record'), '401': error, '404': error },
      },
    },
  };
}
