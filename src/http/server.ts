import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { lazyChildLogger, type Logger } from '../observability/logger.js';
import { ApiError, errorHandler } from './errors.js';
import { MAX_JSON_DEPTH, jsonDepth } from '../domain/json-depth.js';

const ONE_MIB = 1024 * 1024;

/** The HTTP server shared by `serve`, `api` and `worker` (health and metrics only); routes are added by app.ts. */
export function createHttpServer(logger: Logger): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    // Our own onResponse hook writes the one access-log line per request.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'req_id' }),
    bodyLimit: ONE_MIB,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    childLoggerFactory: (parent, bindings, options) => lazyChildLogger(parent as Logger, bindings, options),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  app.setErrorHandler(errorHandler);
  // The API speaks JSON only; fastify's built-in text/plain parser would let a wrong content type through as a string.
  app.removeContentTypeParser('text/plain');
  // CONTRACT §3: too deep a body is refused before it is parsed, for every route; then fastify's own parser (with its
  // __proto__/constructor checks and the 1 MiB bodyLimit) as before.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      done(new ApiError('invalid_json', `request body is nested deeper than ${MAX_JSON_DEPTH} levels of objects and arrays; flatten it`), undefined);
      return;
    }
    parseJson(request, text, done);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(new ApiError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`).body());
  });
  // Once close() starts, answers in flight tell their client to hang up: otherwise a keep-alive socket that was busy
  // when close() began holds the shutdown open until the keep-alive timeout (72 s).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Hooks on every request take `done` rather than being async: no promise per request and hook (issue 18 profiles).
  app.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('x-request-id', request.id);
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  // One access-log line per request; bodies and headers (tokens) are never logged.
  app.addHook('onResponse', (request, reply, done) => {
    if (logger.isLevelEnabled('info')) {
      request.log.info(
        { method: request.method, path: request.routeOptions.url ?? request.url.split('?')[0], status: reply.statusCode, duration_ms: Math.round(reply.elapsedTime) },
        'request finished',
      );
    }
    done();
  });
  // Typed with the default logger so route modules need not know it is pino.
  return app as unknown as FastifyInstance;
}
