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

/**
 * fastify's `childLoggerFactory`: `request.log` is a pino child (with the request id) made only when something logs
 * through it. Most requests log nothing at LOG_LEVEL=warn, and a child costs the serialization and redaction of its
 * bindings (issue 18 profiles). Levels the logger does not write stay pino's own no-ops.
 */
export function lazyChildLogger(logger: Logger, bindings: Record<string, unknown>, options: object): Logger {
  let child: Logger | undefined;
  const real = () => (child ??= logger.child(bindings, options));
  const view = Object.create(logger) as Record<string, unknown>;
  for (const level of LEVELS) {
    if (logger.isLevelEnabled(level)) view[level] = (...args: unknown[]) => (real()[level] as (...a: unknown[]) => void)(...args);
  }
  view.child = (...args: Parameters<Logger['child']>) => real().child(...args);
  view.bindings = () => real().bindings();
  return view as unknown as Logger;
}
