import { open, readFile, type FileHandle } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Config } from '../config/env.js';
import { BATCH_LIMIT } from '../domain/enqueue.js';
import { runBulkImport, type BulkReport } from './bulk-import.js';
import { createProgress, formatCounts, type ProgressStream } from './bulk-progress.js';
import { RejectsFile } from './bulk-rejects.js';
import { RemoteSink, SinkError, openLocalSink, type BulkSink } from './bulk-sinks.js';

export const ENQUEUE_USAGE = `usage: fiscal-worker enqueue FILE|- [--url URL [--token T | --token-file F]] [--rejects PATH]
                              [--from-line N] [--retry-for SECONDS] [--batch-size N] [--concurrency N]`;

/** CONTRACT §1: every line accepted (created or duplicate); some were not (invalid, conflict); could not run. */
export const EXIT_ACCEPTED = 0;
export const EXIT_NOT_ACCEPTED = 1;
export const EXIT_FAILED = 2;

const INPUT_CHUNK_BYTES = 256 * 1024;

export interface EnqueueCliIo {
  stdin: AsyncIterable<Buffer | string>;
  /** The summary line: `created N, duplicate N, conflict N, invalid N`. */
  stdout: { write(text: string): unknown };
  /** Progress, notices, errors. */
  stderr: ProgressStream;
  /** Only local mode needs the environment (REDIS_URL, QUEUE_PREFIX, QR_ALLOWED_HOSTS…); `--url` mode never reads it. */
  loadConfig: () => Readonly<Config>;
  /** Aborted on SIGINT/SIGTERM: stop sending, report where to resume. */
  signal?: AbortSignal;
}

interface Options {
  file: string;
  url?: URL;
  token?: string;
  rejects: string;
  fromLine: number;
  retryForMs: number;
  batchSize: number;
  concurrency: number;
}

function integer(flag: string, value: string | undefined, fallback: number, min: number, max: number, problems: string[]): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) problems.push(`${flag} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return n;
}

async function parseOptions(args: string[]): Promise<Options | string[]> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      rejects: { type: 'string' },
      'from-line': { type: 'string' },
      'retry-for': { type: 'string' },
      'batch-size': { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  const problems: string[] = [];
  if (positionals.length !== 1 || !positionals[0]) problems.push('give exactly one input: a file of JSON lines, or - for stdin');
  const file = positionals[0] ?? '';
  let url: URL | undefined;
  if (values.url !== undefined) {
    try {
      url = new URL(values.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push('--url must be an http(s) URL of a fiscal-worker api');
      if (url.username || url.password) problems.push('--url must not carry credentials; give the API token with --token or --token-file');
      if (url.search || url.hash) problems.push('--url must be the base URL of the api, without ?query or #fragment');
    } catch {
      problems.push('--url must be an http(s) URL of a fiscal-worker api, e.g. https://fiscal.example.com');
    }
  }
  if (values.token !== undefined && values['token-file'] !== undefined) problems.push('give --token or --token-file, not both');
  if ((values.token !== undefined || values['token-file'] !== undefined) && values.url === undefined) problems.push('--token and --token-file go with --url');
  let token = values.token;
  if (values['token-file'] !== undefined) {
    try {
      token = (await readFile(values['token-file'], 'utf8')).trim();
      if (!token) problems.push(`--token-file ${values['token-file']} is empty`);
    } catch (err) {
      problems.push(`--token-file: cannot read ${values['token-file']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) problems.push('--token must be printable ASCII without spaces');
  const retryFor = values['retry-for'] === undefined ? 300 : Number(values['retry-for']);
  if (!Number.isFinite(retryFor) || retryFor < 0) problems.push(`--retry-for must be a number of seconds ≥ 0, not ${JSON.stringify(values['retry-for'])}`);
  const options: Options = {
    file,
    rejects: values.rejects ?? (file === '-' ? 'enqueue-rejects.ndjson' : `${file}.rejects.ndjson`),
    fromLine: integer('--from-line', values['from-line'], 1, 1, Number.MAX_SAFE_INTEGER, problems),
    retryForMs: retryFor * 1000,
    batchSize: integer('--batch-size', values['batch-size'], BATCH_LIMIT, 1, BATCH_LIMIT, problems),
    concurrency: integer('--concurrency', values.concurrency, 4, 1, 32, problems),
    ...(url ? { url } : {}),
    ...(token ? { token } : {}),
  };
  return problems.length > 0 ? problems : options;
}

/** The input and its size when known (a regular file: the progress bar's total). */
async function openInput(file: string, io: EnqueueCliIo): Promise<{ input: AsyncIterable<Buffer | string>; size?: number; handle?: FileHandle }> {
  if (file === '-') return { input: io.stdin };
  const handle = await open(file, 'r');
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new Error('is a directory');
    return { input: handle.createReadStream({ highWaterMark: INPUT_CHUNK_BYTES }), handle, ...(stat.isFile() ? { size: stat.size } : {}) };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function closing(report: BulkReport, seconds: number, rejects: RejectsFile): string {
  const lines = report.counts.created + report.counts.duplicate + report.counts.conflict + report.counts.invalid;
  const parts = [`${lines} lines in ${seconds.toFixed(1)} s (${seconds > 0 ? Math.round(lines / seconds) : lines} lines/s)`];
  if (report.blank > 0) parts.push(`${plural(report.blank, 'blank line', 'blank lines')} skipped`);
  if (rejects.count > 0) parts.push(`${plural(rejects.count, 'line', 'lines')} not accepted, in ${rejects.path}`);
  // Peak resident memory of this process: flat whatever the file's length (docs/RELIABILITY.md, bulk import).
  parts.push(`peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
  return `enqueue: ${parts.join(', ')}\n`;
}

/**
 * `fiscal-worker enqueue FILE|-` (CONTRACT §1). The summary goes to stdout, progress and errors to stderr; returns
 * the exit code. README "Bulk import" describes the file, the flags, the rejects file and resuming.
 */
export async function runEnqueueCli(args: string[], io: EnqueueCliIo): Promise<number> {
  const fail = (message: string) => {
    io.stderr.write(`${message}\n`);
    return EXIT_FAILED;
  };
  let parsed: Options | string[];
  try {
    parsed = await parseOptions(args);
  } catch (err) {
    return fail(`${(err as Error).message}\n${ENQUEUE_USAGE}`);
  }
  if (Array.isArray(parsed)) return fail(`${parsed.join('\n')}\n${ENQUEUE_USAGE}`);
  const options = parsed;
  const config = options.url ? undefined : io.loadConfig();

  let input: Awaited<ReturnType<typeof openInput>>;
  try {
    input = await openInput(options.file, io);
  } catch (err) {
    return fail(`cannot read ${options.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let rejects: RejectsFile | undefined;
  let sink: BulkSink | undefined;
  try {
    try {
      rejects = await RejectsFile.open(options.rejects, options.fromLine > 1);
    } catch (err) {
      return fail(`cannot write the rejects file ${options.rejects}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      sink = options.url ? new RemoteSink(options.url, options.token, options.concurrency) : await openLocalSink(config!);
    } catch (err) {
      if (err instanceof SinkError) return fail(`enqueue: ${err.message}`);
      throw err;
    }

    const progress = createProgress(io.stderr, input.size);
    const startedAt = Date.now();
    const report = await runBulkImport({
      input: input.input,
      sink,
      rejects,
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      retryForMs: options.retryForMs,
      fromLine: options.fromLine,
      ...(io.signal ? { signal: io.signal } : {}),
      onProgress: (p) => progress.update(p),
      onNotice: (message) => progress.notice(message),
    });
    progress.stop();
    // A pipe that never ends (interrupted run) would keep the process alive.
    if (options.file === '-') (io.stdin as { destroy?: () => void }).destroy?.();
    await rejects.close();
    io.stdout.write(`${formatCounts(report.counts)}\n`);
    io.stderr.write(closing(report, (Date.now() - startedAt) / 1000, rejects));
    if (report.stopped) {
      const { reason, resumeLine } = report.stopped;
      const rerun = `fiscal-worker enqueue ${options.file === '-' ? '-' : options.file} … --from-line ${resumeLine}`;
      return fail(`enqueue stopped: ${reason}\nevery line before ${resumeLine} is done; continue with: ${rerun}`);
    }
    return report.counts.invalid + report.counts.conflict > 0 ? EXIT_NOT_ACCEPTED : EXIT_ACCEPTED;
  } finally {
    await Promise.allSettled([sink?.close(), rejects?.close(), input.handle?.close()]);
  }
}
