import { pino } from 'pino';

/**
 * A URL fit for a log line: user name and password replaced (`redis://:secret@host` → `redis://***@host`). A value
 * that is not a URL is not shown at all, since it may be a secret mistyped into the wrong variable.
 */
export function redactUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return '[not a URL]';
  }
  if (!url.username && !url.password) return url.href;
  url.username = '';
  url.password = '';
  // URL cannot hold `***` as credentials without percent-encoding them; put the mask in by hand.
  return url.href.replace(`${url.protocol}//`, `${url.protocol}//***@`);
}

const MAX_DEPTH = 6;
/** Arguments shorter than this are Redis syntax (`EX`, `0`, `NX`), not data worth scrubbing from a message. */
const MIN_SCRUBBED_LENGTH = 4;
/** Redis quotes the arguments of an unknown command in its answer (`ERR unknown command 'x', with args beginning with: 'a' 'b'`). */
const ARGS_IN_MESSAGE = /(with args beginning with:).*/g;

function isErrorLike(value: unknown): value is Error & Record<string, unknown> {
  return value instanceof Error || (typeof value === 'object' && value !== null && typeof (value as Error).message === 'string' && typeof (value as Error).stack === 'string');
}

function argText(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (typeof arg === 'number' || typeof arg === 'bigint') return String(arg);
  if (Buffer.isBuffer(arg) && arg.length <= 4096) return arg.toString('utf8');
  return undefined;
}

/** Every command argument an ioredis error carries, in it, its causes, and the errors it wraps. */
function collectArgs(value: unknown, into: Set<string>, depth: number, seen: Set<unknown>): void {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value)) {
    for (const item of value) collectArgs(item, into, depth + 1, seen);
    return;
  }
  const command = (value as { command?: { args?: unknown } }).command;
  if (command && typeof command === 'object' && Array.isArray(command.args)) {
    for (const arg of command.args) {
      const text = argText(arg);
      if (text !== undefined && text.length >= MIN_SCRUBBED_LENGTH) into.add(text);
    }
  }
  if (!isErrorLike(value)) return;
  // `cause` (UnavailableError), `errors` (AggregateError), `previousErrors` (a MULTI), `lastNodeError` (a Cluster).
  for (const key of new Set(['cause', ...Object.keys(value)])) collectArgs(value[key], into, depth + 1, seen);
}

function scrub(text: string, args: ReadonlySet<string>): string {
  let out = text.replace(ARGS_IN_MESSAGE, '$1 [redacted]');
  for (const arg of args) if (out.includes(arg)) out = out.split(arg).join('[redacted]');
  return out;
}

/** A copy safe to write out: strings scrubbed, every `command` cut down to its name, nested errors serialized alike. */
function clean(value: unknown, args: ReadonlySet<string>, depth: number): unknown {
  if (typeof value === 'string') return scrub(value, args);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[nested too deep]';
  if (Buffer.isBuffer(value)) return '[buffer]';
  if (Array.isArray(value)) return value.map((item) => clean(item, args, depth + 1));
  const source = isErrorLike(value) ? pino.stdSerializers.err(value) : value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(source)) {
    if (key === 'command' && inner !== null && typeof inner === 'object') {
      const name = (inner as { name?: unknown }).name;
      out.command = typeof name === 'string' ? name : '[redacted]';
      continue;
    }
    out[key] = clean(inner, args, depth + 1);
  }
  return out;
}

/**
 * pino serializer for `err`. ioredis puts the failed command on its errors (`err.command = {name, args}`, also on the
 * errors inside a MULTI's `previousErrors` and a Cluster's `lastNodeError`), and the arguments are data: a Payme code,
 * an INN, a record. The command's name stays (it says what failed); its arguments leave the error and every message
 * and stack in which they appear (issue 19).
 */
export function serializeError(value: unknown): unknown {
  if (!isErrorLike(value)) return value;
  const args = new Set<string>();
  collectArgs(value, args, 0, new Set());
  return clean(value, args, 0);
}
