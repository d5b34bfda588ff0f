import { pino, type DestinationStream, type Logger } from 'pino';
import { serializeError } from './redact.js';

export type { Logger };

/** Paths pino censors wherever they appear; the secrets themselves never reach a log call in the first place. */
const REDACT = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-jws-signature"]',
  '*.token',
  '*.password',
  '*.secret',
  '*.secret_key',
  '*.client_phone_number',
  '*.*.client_phone_number',
];

/**
 * JSON lines on stdout, one event per line. The destination is asynchronous (sonic-boom), so a log call
 * on the job hot path never blocks on a write; `flush()` runs on shutdown.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'fiscal-worker' },
      redact: { paths: REDACT, censor: '[redacted]' },
      // Every error goes through one serializer, whoever logs it (fastify's request logger included): Redis errors
      // carry the failed command's arguments, which are data (redact.ts).
      serializers: { err: serializeError, error: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

interface LazyView {
  _bindings: Record<string, unknown>;
  _options: object;
  _child?: Logger;
}

/** Per parent logger: the methods every lazy view shares (a view itself is one object with its bindings). */
const lazyPrototypes = new WeakMap<Logger, object>();

function lazyPrototype(logger: Logger): object {
  let proto = lazyPrototypes.get(logger);
  if (proto) return proto;
  const real = (view: LazyView) => (view._child ??= logger.child(view._bindings, view._options));
  const methods: Record<string, unknown> = {
    child(this: LazyView, ...args: Parameters<Logger['child']>) {
      return real(this).child(...args);
    },
    bindings(this: LazyView) {
      return real(this).bindings();
    },
  };
  for (const level of LEVELS) {
    // Levels the logger does not write stay pino's own no-ops, inherited from the logger.
    if (logger.isLevelEnabled(level)) {
      methods[level] = function (this: LazyView, ...args: unknown[]) {
        return (real(this)[level] as (...a: unknown[]) => void)(...args);
      };
    }
  }
  proto = Object.assign(Object.create(logger) as object, methods);
  lazyPrototypes.set(logger, proto);
  return proto;
}

/**
 * fastify's `childLoggerFactory`: `request.log` is a pino child (with the request id) made only when something logs
 * through it. Most requests log nothing at LOG_LEVEL=warn, and a child costs the serialization and redaction of its
 * bindings (issue 18 profiles); a view is one small object.
 */
export function lazyChildLogger(logger: Logger, bindings: Record<string, unknown>, options: object): Logger {
  const view = Object.create(lazyPrototype(logger)) as LazyView;
  view._bindings = bindings;
  view._options = options;
  return view as unknown as Logger;
}
