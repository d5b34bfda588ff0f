import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { PROVIDERS } from '../../domain/provider.js';
import { CONFIRMATION_SPECS } from '../../providers/index.js';
import { BATCH_LIMIT } from '../../domain/enqueue.js';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' });

/**
 * OpenAPI 3.1 of `/v1/*`, generated from the same zod schemas that validate requests (the confirmation schema the
 * intake validates with, the registry's request schemas), so it cannot drift.
 */
export function buildOpenApi(confirmationSchema: z.ZodType, extraPaths: Record<string, unknown> = {}) {
  const confirmation = json(confirmationSchema);
  const error = {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
      },
    },
  };
  const record = {
    type: 'object',
    required: ['id', 'provider', 'state', 'attempts', 'created_at', 'history'],
    properties: {
      id: { type: 'string' },
      provider: { type: 'string', enum: [...PROVIDERS] },
      payment_id: { type: 'string' },
      transaction_id: { type: 'string' },
      state: { type: 'string', enum: ['queued', 'active', 'retrying', 'succeeded', 'dead'] },
      // null in a money record answered from its tombstone (issue 15): the job and its history are gone.
      attempts: { type: ['integer', 'null'] },
      created_at: { type: 'string', format: 'date-time' },
      finished_at: { type: ['string', 'null'], format: 'date-time' },
      result: {},
      error: {
        type: ['object', 'null'],
        properties: { kind: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' }, provider_response: {} },
      },
      reference: { type: ['string', 'null'] },
      history: { type: 'array', items: { type: 'object' } },
      amount: { type: 'integer', description: 'Payme Go: the charge in sums' },
      total_minor: { type: 'integer', description: 'Freedom Pay, from a tombstone: the settlements total in tiyins' },
      expired: { type: 'boolean', description: 'true: the record is gone (RETENTION_DAYS) and this is what its tombstone keeps (IDEMPOTENCY_DAYS)' },
    },
  };
  const errors = (...codes: number[]) =>
    Object.fromEntries(codes.map((c) => [String(c), { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]));
  const ok = (description: string, schema: unknown) => ({ description, content: { 'application/json': { schema } } });
  const recordRef = { $ref: '#/components/schemas/Record' };
  return {
    openapi: '3.1.0',
    info: { title: 'fiscal-worker', version: '1', description: `Attach Soliq OFD fiscal receipts to ${CONFIRMATION_SPECS.map((s) => s.title).join(', ')} payments.` },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Confirmation: confirmation, Record: record, Error: error },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/confirmations': {
        post: {
          operationId: 'createConfirmation',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Confirmation' } } } },
          responses: { '202': ok('accepted', recordRef), '200': ok('already accepted with the same qr_code', recordRef), ...errors(400, 401, 409, 413, 415, 503) },
        },
        get: {
          operationId: 'findConfirmations',
          parameters: [
            { name: 'payment_id', in: 'query', schema: { type: 'string' } },
            { name: 'reference', in: 'query', schema: { type: 'string' } },
          ],
          responses: { '200': ok('matching records', { type: 'object', properties: { items: { type: 'array', items: recordRef } } }), ...errors(400, 401) },
        },
      },
      '/v1/confirmations/batch': {
        post: {
          operationId: 'createConfirmations',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { type: 'object', required: ['items'], properties: { items: { type: 'array', maxItems: BATCH_LIMIT, items: { $ref: '#/components/schemas/Confirmation' } } } } } },
          },
          responses: { '200': ok('one result per item', { type: 'object', properties: { results: { type: 'array', items: { type: 'object' } } } }), ...errors(400, 401, 413, 415, 503) },
        },
      },
      '/v1/confirmations/{id}': {
        get: {
          operationId: 'getConfirmation',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': ok('the record', recordRef), ...errors(401, 404) },
        },
      },
      ...extraPaths,
    },
  };
}

export async function openApiRoute(app: FastifyInstance, document: unknown): Promise<void> {
  app.get('/openapi.json', async () => document);
}
