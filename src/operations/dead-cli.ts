import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type { DestinationStream } from 'pino';
import { CALLBACK_QUEUE, openCallbackQueue } from '../callbacks/events.js';
import type { Config } from '../config/env.js';
import { PROVIDERS } from '../domain/provider.js';
import { createLogger } from '../observability/logger.js';
import type { ProgressStream } from '../producers/bulk-progress.js';
import type { RecordView } from '../records/record-view.js';
import { createCountProgress, type CountProgress } from './count-progress.js';
import { DeadLetters, type Actor, type ReplayReport } from './dead-letters.js';
import { CALLBACKS_OWNER, QueueCatalog } from './queue-catalog.js';
import { openStore, StoreUnavailableError, type Store } from './store.js';

export const DEAD_USAGE = `usage: fiscal-worker dead list [--provider P] [--limit N] [--json]
       fiscal-worker dead replay (--all | --provider P | ID…) [--force]
       fiscal-worker dead remove ID…
exit 0 done; 1 something skipped or not a dead letter; 2 could not run or was interrupted`;

/** Exit codes (as `enqueue` and `reconcile`): done; something skipped or not found; could not run. */
export const EXIT_DONE = 0;
export const EXIT_PARTIAL = 1;
export const EXIT_FAILED = 2;

/** Records per page of `dead list` (the API's maximum). */
const LIST_PAGE = 1000;
/** A run over more than this many dead letters shows progress on stderr. */
const PROGRESS_FROM = 500;
/** Characters of a dead letter's message in the table; --json has all of it. */
const MESSAGE_WIDTH = 80;

export interface DeadCliIo {
  /** What a script reads: `list`'s rows; for `replay` and `remove`, the JSON log lines (the audit lines). */
  stdout: { write(text: string): unknown };
  /** What a person reads: progress, the summary, each skipped id with its reason, errors. */
  stderr: ProgressStream;
  /** Read only once the arguments are valid (a bad environment exits 78 in main). */
  loadConfig: () => Readonly<Config>;
  /** Who runs it (the OS user): the `actor` of the audit lines. */
  user: string;
  /** Aborted on SIGINT/SIGTERM: stop between chunks and say how far it went. */
  signal?: AbortSignal;
}

/** The OS user (issue 16: the CLI's audit lines name who ran it); a uid where the system has no name for it. */
export function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? 'unknown'}`;
  }
}

type Command =
  | { name: 'list'; provider?: string; limit: number; json: boolean }
  | { name: 'replay'; scope: { ids: string[] } | { provider: string } | { all: true }; force: boolean }
  | { name: 'remove'; ids: string[] };

const OWNERS: readonly string[] = [...PROVIDERS, CALLBACKS_OWNER];

function checkOwner(provider: string | undefined, problems: string[]): void {
  if (provider !== undefined && !OWNERS.includes(provider)) problems.push(`--provider must be one of ${OWNERS.join(', ')}, not ${JSON.stringify(provider)}`);
}

function parseCommand(args: string[]): Command | string[] {
  const [name, ...rest] = args;
  if (name === 'list') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true, options: { provider: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } } });
    const problems: string[] = [];
    if (positionals.length) problems.push(`dead list takes no ids (${positionals.join(' ')}); filter with --provider`);
    checkOwner(values.provider, problems);
    const limit = values.limit === undefined ? Number.POSITIVE_INFINITY : Number(values.limit);
    if (values.limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) problems.push(`--limit must be a whole number ≥ 1, not ${JSON.stringify(values.limit)}`);
    return problems.length ? problems : { name, limit, json: values.json ?? false, ...(values.provider ? { provider: values.provider } : {}) };
  }
  if (name === 'replay') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true, options: { all: { type: 'boolean' }, provider: { type: 'string' }, force: { type: 'boolean' } } });
    const problems: string[] = [];
    const given = [values.all ? '--all' : '', values.provider !== undefined ? '--provider' : '', positionals.length ? 'ids' : ''].filter(Boolean);
    if (given.length !== 1) problems.push(`give exactly one of --all, --provider P or ids${given.length ? `, not ${given.join(' and ')}` : ''}`);
    checkOwner(values.provider, problems);
    if (problems.length) return problems;
    const scope = values.all ? { all: true as const } : values.provider !== undefined ? { provider: values.provider } : { ids: positionals };
    return { name, scope, force: values.force ?? false };
  }
  if (name === 'remove') {
    const { positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true, options: {} });
    return positionals.length ? { name, ids: positionals } : ['dead remove needs the ids of the dead letters to remove'];
  }
  return [name === undefined ? 'give a dead-letter command: list, replay or remove' : `unknown dead-letter command ${JSON.stringify(name)}: list, replay or remove`];
}

/**
 * `fiscal-worker dead list|replay|remove` (CONTRACT §1, §5): the same path as the API and the board's buttons
 * (operations/dead-letters.ts), on the Redis at REDIS_URL. Returns the exit code. README "Dead letters" and
 * docs/OPERATIONS.md say when to use which.
 */
export async function runDeadCli(args: string[], io: DeadCliIo): Promise<number> {
  let command: Command | string[];
  try {
    command = parseCommand(args);
  } catch (err) {
    command = [(err as Error).message];
  }
  if (Array.isArray(command)) {
    io.stderr.write(`${command.join('\n')}\n${DEAD_USAGE}\n`);
    return EXIT_FAILED;
  }
  const config = io.loadConfig();
  let store: Store;
  try {
    store = await openStore(config);
  } catch (err) {
    // A ConfigError (the deployment's stored layout disagrees with QUEUE_SHARDS) is main's: exit 78.
    if (!(err instanceof StoreUnavailableError)) throw err;
    io.stderr.write(`dead ${command.name}: ${err.message}\n`);
    return EXIT_FAILED;
  }
  const callbacks = openCallbackQueue(store.redis, store.layout.auxiliaryPrefix(CALLBACK_QUEUE));
  // The list's stdout is its rows: its logger (which it never uses for an audit) must not write between them.
  const logger = createLogger(config.logLevel, (command.name === 'list' ? io.stderr : io.stdout) as DestinationStream);
  const deadLetters = new DeadLetters({ catalog: new QueueCatalog(store.queues, callbacks), redis: store.redis, logger });
  const actor: Actor = { via: 'cli', name: io.user };
  try {
    if (command.name === 'list') return await list(deadLetters, command, io);
    if (command.name === 'replay') return await replay(deadLetters, command, actor, io);
    return await remove(deadLetters, command.ids, actor, io);
  } catch (err) {
    io.stderr.write(`dead ${command.name} failed: ${(err as Error).message}\n`);
    return EXIT_FAILED;
  } finally {
    await callbacks.close().catch(() => undefined);
    await store.close();
  }
}

async function list(deadLetters: DeadLetters, command: Extract<Command, { name: 'list' }>, io: DeadCliIo): Promise<number> {
  const total = Math.min(await deadLetters.count(command.provider), command.limit);
  const progress = total > PROGRESS_FROM ? createCountProgress(io.stderr, 'dead list') : undefined;
  const table = new Table();
  let printed = 0;
  let cursor: string | undefined;
  try {
    while (printed < command.limit) {
      if (io.signal?.aborted) {
        io.stderr.write(`dead list interrupted after ${printed} dead letters\n`);
        return EXIT_FAILED;
      }
      const page = await deadLetters.list({ limit: Math.min(LIST_PAGE, command.limit - printed), ...(command.provider ? { provider: command.provider } : {}), ...(cursor ? { cursor } : {}) });
      io.stdout.write(command.json ? page.items.map((record) => `${JSON.stringify(record)}\n`).join('') : table.rows(page.items));
      printed += page.items.length;
      progress?.update(printed, Math.max(total, printed));
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
  } finally {
    progress?.stop();
  }
  if (printed === 0) io.stderr.write(`no dead letters${command.provider ? ` of ${command.provider}` : ''}\n`);
  return EXIT_DONE;
}

async function replay(deadLetters: DeadLetters, command: Extract<Command, { name: 'replay' }>, actor: Actor, io: DeadCliIo): Promise<number> {
  let progress: CountProgress | undefined;
  let report: ReplayReport;
  try {
    report = await deadLetters.replay({
      ...command.scope,
      force: command.force,
      actor,
      ...(io.signal ? { signal: io.signal } : {}),
      onProgress: (done, total) => {
        if (!progress && total > PROGRESS_FROM) progress = createCountProgress(io.stderr, 'dead replay');
        progress?.update(done, total);
      },
    });
  } finally {
    progress?.stop();
  }
  io.stderr.write(`replayed ${report.replayed}, skipped ${report.skipped.length}\n`);
  for (const { id, reason, message } of report.skipped) io.stderr.write(`  ${id}  ${reason}: ${message}\n`);
  const needForce = report.skipped.filter((s) => s.reason === 'needs_force').length;
  if (needForce > 0) io.stderr.write(`${needForce} may already have reached the provider: check them there, then replay them by id with --force (docs/OPERATIONS.md)\n`);
  if (report.interrupted) {
    io.stderr.write('dead replay interrupted: what was replayed stays replayed; run it again to go on\n');
    return EXIT_FAILED;
  }
  return report.skipped.length > 0 ? EXIT_PARTIAL : EXIT_DONE;
}

async function remove(deadLetters: DeadLetters, ids: readonly string[], actor: Actor, io: DeadCliIo): Promise<number> {
  let missing = 0;
  for (const id of new Set(ids)) {
    if (io.signal?.aborted) {
      io.stderr.write('dead remove interrupted: the ids above are done, the rest untouched\n');
      return EXIT_FAILED;
    }
    const removed = await deadLetters.remove(id, actor);
    if (!removed) missing++;
    io.stderr.write(removed ? `removed ${id}\n` : `not a dead letter: ${id} (nothing removed)\n`);
  }
  return missing > 0 ? EXIT_PARTIAL : EXIT_DONE;
}

/** `dead list` as text: a header, then one line per dead letter; the id column is as wide as the first page's ids. */
class Table {
  private idWidth = 0;

  rows(records: readonly RecordView[]): string {
    let text = '';
    if (this.idWidth === 0 && records.length > 0) {
      this.idWidth = Math.max(...records.map((r) => r.id.length));
      text += this.line('ID', 'PROVIDER', 'FINISHED_AT', 'ERROR', 'MESSAGE');
    }
    for (const record of records) {
      const error = record.error;
      // The message repeats kind and code in front (the job's failedReason, as the board shows it): said once here.
      const message = error ? error.message.replace(`${error.kind}: ${error.code}: `, '') : '';
      text += this.line(record.id, record.provider, record.finished_at ?? '-', error ? `${error.kind} ${error.code}` : '-', shorten(message));
    }
    return text;
  }

  private line(id: string, provider: string, finishedAt: string, error: string, message: string): string {
    return `${`${id.padEnd(this.idWidth)}  ${provider.padEnd(10)}  ${finishedAt.padEnd(24)}  ${error.padEnd(24)}  ${message}`.trimEnd()}\n`;
  }
}

function shorten(message: string): string {
  const flat = message.replace(/\s+/g, ' ').trim();
  return flat.length > MESSAGE_WIDTH ? `${flat.slice(0, MESSAGE_WIDTH - 1)}…` : flat;
}
