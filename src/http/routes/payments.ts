import { setMaxListeners } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Config } from '../../config/env.js';
import { providerOfRecordId } from '../../domain/ids.js';
import type { PaymentIntake } from '../../domain/enqueue.js';
import { describeProblems } from '../../domain/problems.js';
import { findSpec, onlySpecOfKind } from '../../providers/index.js';
import type { RecordStore } from '../../records/record-store.js';
import { ApiError } from '../errors.js';
import { isFinished, readWhenFinished } from './record-wait.js';

export interface PaymentRouteDeps {
  payments: PaymentIntake;
  records: RecordStore;
}

/** CONTRACT §3: `?wait=` seconds, default 30, at most 60. */
export const DEFAULT_WAIT_SECONDS = 30;
/** An Idempotency-Key is hashed into the record id; a bound keeps the header sane. */
export const IDEMPOTENCY_KEY_MAX = 255;
export const MAX_WAIT_SECONDS = 60;

const WaitQuery = z.object({
  wait: z.coerce
    .number({ error: 'wait must be a number of seconds' })
    .min(0, 'wait must be at least 0 seconds')
    .max(MAX_WAIT_SECONDS, `wait must be at most ${MAX_WAIT_SECONDS} seconds`)
    .default(DEFAULT_WAIT_SECONDS),
});

function idempotencyKey(header: string | string[] | undefined): string {
  const key = Array.isArray(header) ? header[0] : header;
  if (!key) throw new ApiError('missing_idempotency_key', 'the Idempotency-Key header is required: one unique string per charge, sent again when retrying that charge');
  if (key.length > IDEMPOTENCY_KEY_MAX) throw new ApiError('invalid_idempotency_key', `Idempotency-Key must be at most ${IDEMPOTENCY_KEY_MAX} characters`);
  return key;
}

/** Payme Go charges (seed 003): idempotent on the Idempotency-Key, answered when finished or after `wait` seconds. */
export async function paymentRoutes(app: FastifyInstance, deps: PaymentRouteDeps): Promise<void> {
  const { payments, records } = deps;
  // Waiting requests answer at once (202 with the current record) when the server closes, instead of holding it up.
  const closing = new AbortController();
  // Every waiting request listens on this one signal while it sleeps between reads: any number of them is expected,
  // and Node's default of 10 would warn of a leak that is not one.
  setMaxListeners(0, closing.signal);
  app.addHook('preClose', async () => closing.abort());

  app.post('/v1/payments/payme', async (request, reply) => {
    const key = idempotencyKey(request.headers['idempotency-key']);
    const query = WaitQuery.safeParse(request.query);
    if (!query.success) throw new ApiError('invalid_query', query.error.issues[0]?.message ?? 'wait must be a number of seconds from 0 to 60');
    const outcome = await payments.enqueue(key, request.body, { within: request.deadline.within });
    if (outcome.result === 'invalid') throw new ApiError('invalid_body', describeProblems(outcome.problems), outcome.problems);
    if (outcome.result === 'conflict') throw new ApiError('conflict', outcome.message, { id: outcome.id });
    const record = await readWhenFinished(records, outcome.id, query.data.wait * 1000, closing.signal, request.deadline.within);
    if (!record) throw new ApiError('unavailable', `payment ${outcome.id} was accepted but could not be read back; repeat the request to read it`);
    return reply.status(isFinished(record) ? 200 : 202).send(record);
  });

  app.get<{ Params: { id: string } }>('/v1/payments/:id', async (request) => {
    const { id } = request.params;
    const record = findSpec(providerOfRecordId(id))?.kind === 'payment' ? await records.get(id) : undefined;
    if (!record) throw new ApiError('not_found', `no payment with id ${id}`);
    return record;
  });
}

/** OpenAPI paths of these routes, from the same zod schema that validates the body. */
export function paymentOpenApiPaths(config: Readonly<Config>): Record<string, unknown> {
  const body = z.toJSONSchema(onlySpecOfKind('payment').request(config), { unrepresentable: 'any', io: 'input' });
  const recordRef = { $ref: '#/components/schemas/Record' };
  const error = { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  const ok = (description: string) => ({ description, content: { 'application/json': { schema: recordRef } } });
  return {
    '/v1/payments/payme': {
      post: {
        operationId: 'chargePaymeGo',
        description: 'Charge a customer\'s Payme code (seed 003) at most once; with fiscal_qr_code, the payme confirmation follows a successful charge.',
        parameters: [
          { name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', maxLength: IDEMPOTENCY_KEY_MAX } },
          { name: 'wait', in: 'query', schema: { type: 'number', minimum: 0, maximum: MAX_WAIT_SECONDS, default: DEFAULT_WAIT_SECONDS } },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: body } } },
        responses: { '200': ok('finished: succeeded or dead'), '202': ok('still running'), '400': error, '401': error, '409': error, '413': error, '415': error, '503': error },
      },
    },
    '/v1/payments/{id}': {
      get: {
        operationId: 'getPayment',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': ok('the record'), '401': error, '404': error },
      },
    },
  };
}
