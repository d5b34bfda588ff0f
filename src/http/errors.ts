import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { UnavailableError } from '../infra/redis.js';
import { BadCursorError } from '../records/paging.js';

/** The API's error catalog (like fastify's FST_ERR_*): one code, one status, one shape everywhere. */
export const ERRORS = {
  invalid_body: 400,
  invalid_json: 400,
  invalid_query: 400,
  too_many_items: 400,
  missing_idempotency_key: 400,
  invalid_idempotency_key: 400,
  unauthorized: 401,
  // Authenticated, but the action is not allowed here (a Bull Board action a queue's policy forbids).
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  unavailable: 503,
  // A provider the request needs is not configured in this process (e.g. FREEDOMPAY_MERCHANT_ID/SECRET_KEY empty).
  not_configured: 503,
} as const;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApiError';
    this.status = ERRORS[code];
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

/** Maps fastify's own parser errors onto the catalog, so a client sees one error shape whatever went wrong. */
function fromFastify(err: FastifyError): ApiError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', 'request body is larger than 1 MiB; split it (batches take up to 1000 items)');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'Content-Type must be application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('invalid_json', 'request body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('invalid_json', `request body is not valid JSON: ${err.message}`);
    default:
      if (err instanceof SyntaxError || err.statusCode === 400) return new ApiError('invalid_json', `request body is not valid JSON: ${err.message}`);
      return undefined;
  }
}

export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  let apiError: ApiError;
  if (err instanceof ApiError) apiError = err;
  else if (err instanceof UnavailableError) apiError = new ApiError('unavailable', err.message);
  // A cursor a paged route did not hand out, found wherever the page is read.
  else if (err instanceof BadCursorError) apiError = new ApiError('invalid_query', err.message);
  else apiError = fromFastify(err) ?? new ApiError('internal', 'internal error; the request id in X-Request-Id helps support find it');
  if (apiError.status >= 500) request.log.error({ err }, 'request failed');
  void reply.status(apiError.status).send(apiError.body());
}
