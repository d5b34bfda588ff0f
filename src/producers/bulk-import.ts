import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BulkItem, BulkSink, LineOutcome, LineResult } from './bulk-sinks.js';
import { SinkError } from './bulk-sinks.js';
import { truncateInput, type RejectsSink } from './bulk-rejects.js';
import { parseJsonLine, readLines, type RawLine } from './ndjson.js';

/**
 * The bulk producer behind `fiscal-worker enqueue` (CONTRACT §1): lines → batches → a sink, with flat memory and
 * exact accounting.
 *
 * - Memory: at most `concurrency` batches exist between being cut and being committed; while that many are open the
 *   input is not read (the stream pauses), so memory does not grow with the file.
 * - Order: batches are committed (counted, rejects written) in file order, whatever order their answers come in.
 *   So when a run stops, every line before the first uncommitted batch is done and nothing after it was counted:
 *   `--from-line <resumeLine>` continues exactly there. Later batches that were acknowledged but not committed are
 *   sent again by the resumed run and reported `duplicate` (enqueue is idempotent; nothing is doubled).
 * - Retries: a batch without an acknowledgement (no answer, 5xx, 429, Redis away) goes again, the same batch, with
 *   capped exponential backoff, until `retryForMs` has passed since its first failure; then the run stops.
 */

/** Half the API's 1 MiB body limit: a longer line cannot be a confirmation (a few hundred bytes) and fits no batch. */
export const MAX_LINE_BYTES = 512 * 1024;
/** A batch is cut before its lines exceed this, so its request stays under the API's 1 MiB body limit (CONTRACT §3). */
export const MAX_BATCH_BYTES = 768 * 1024;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const RETRY_AFTER_MAX_MS = 60_000;
/** A partial batch is sent once the input has been quiet this long (`producer | fiscal-worker enqueue -`). */
const IDLE_FLUSH_MS = 500;
const WOKEN = Symbol('woken');

export type Counts = Record<LineResult, number>;

export interface BulkProgress {
  /** Lines committed (blank lines not included). */
  lines: number;
  /** Input bytes up to the last committed line: against the file size, the share done. */
  bytes: number;
  counts: Readonly<Counts>;
}

export interface BulkImportOptions {
  input: AsyncIterable<Buffer | string>;
  sink: BulkSink;
  rejects: RejectsSink;
  /** Items per batch, at most the API's 1000. */
  batchSize: number;
  /** Batches open at once (sent or waiting to be committed). */
  concurrency: number;
  retryForMs: number;
  /** Lines before this one are read but not sent (resume). */
  fromLine: number;
  /** Default IDLE_FLUSH_MS. */
  idleFlushMs?: number;
  /** Aborting stops the run as an interruption: nothing more is sent, the report says where to resume. */
  signal?: AbortSignal;
  onProgress?: (progress: BulkProgress) => void;
  /** Retries and the like, one line each, for stderr. */
  onNotice?: (message: string) => void;
}

export interface BulkReport {
  counts: Counts;
  /** Blank lines skipped (not counted as invalid). */
  blank: number;
  /** The last line number read. */
  lastLine: number;
  /** Set when the run stopped before the end: why, and the first line that is not done. */
  stopped?: { reason: string; resumeLine: number };
}

interface Entry {
  line: number;
  text: string;
  overflowed: boolean;
  /** Decided here, without sending: not JSON, too long. */
  local?: LineOutcome;
}

interface Batch {
  seq: number;
  firstLine: number;
  lastLine: number;
  /** Input bytes consumed through the last line. */
  end: number;
  bytes: number;
  entries: Entry[];
  items: BulkItem[];
}

function invalidLine(message: string): LineOutcome {
  return { result: 'invalid', errors: [{ field: '(line)', message }] };
}

/** A line as an entry of a batch; undefined for a blank line. */
function toEntry(raw: RawLine): { entry: Entry; item?: BulkItem } | undefined {
  if (raw.overflowBytes > 0) {
    return { entry: { line: raw.number, text: raw.text, overflowed: true, local: invalidLine(`line is longer than ${MAX_LINE_BYTES} bytes (${raw.bytes + raw.overflowBytes})`) } };
  }
  if (raw.text.trim() === '') return undefined;
  const parsed = parseJsonLine(raw.text);
  if (!parsed.ok) return { entry: { line: raw.number, text: raw.text, overflowed: false, local: invalidLine(parsed.message) } };
  return { entry: { line: raw.number, text: raw.text, overflowed: false }, item: { text: raw.text, value: parsed.value } };
}

function backoffMs(attempt: number, retryAfterMs: number | undefined): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  const jittered = ceiling / 2 + (Math.random() * ceiling) / 2;
  return Math.min(RETRY_AFTER_MAX_MS, Math.max(jittered, retryAfterMs ?? 0));
}

const span = (batch: Batch) => (batch.firstLine === batch.lastLine ? `line ${batch.firstLine}` : `lines ${batch.firstLine}–${batch.lastLine}`);

export function runBulkImport(options: BulkImportOptions): Promise<BulkReport> {
  return new BulkImport(options).run();
}

class BulkImport {
  private readonly counts: Counts = { created: 0, duplicate: 0, conflict: 0, invalid: 0 };
  private blank = 0;
  private lastLine = 0;
  private committedLines = 0;
  private committedEnd = 0;
  /** Every line up to this one is done (or before --from-line). */
  private committedThrough: number;
  private nextSeq = 0;
  private nextCommit = 0;
  /** Batches cut and dispatched, not yet committed: the memory bound. */
  private readonly open = new Map<number, Batch>();
  /** Acknowledged batches waiting for an earlier one. */
  private readonly answered = new Map<number, LineOutcome[]>();
  private readonly sends = new Set<Promise<void>>();
  private commits: Promise<void> = Promise.resolve();
  private readonly halt = new AbortController();
  private haltReason: string | undefined;
  private wake: (() => void) | undefined;
  private wakeReader: (() => void) | undefined;

  constructor(private readonly o: BulkImportOptions) {
    this.committedThrough = o.fromLine - 1;
    // Each batch in flight listens on the stop signal (its request or its pause before sending again): up to
    // --concurrency of them, more than Node's default of 10 before it warns of a leak.
    setMaxListeners(o.concurrency + 1, this.halt.signal);
  }

  async run(): Promise<BulkReport> {
    const interrupt = () => this.stop('interrupted');
    if (this.o.signal?.aborted) interrupt();
    this.o.signal?.addEventListener('abort', interrupt, { once: true });
    const lines = readLines(this.o.input, MAX_LINE_BYTES);
    let readToEnd = false;
    let batch = this.newBatch();
    try {
      let next = lines.next();
      while (!this.haltReason) {
        const got = await this.nextLine(next, batch.entries.length > 0);
        if (got === WOKEN) {
          // The input is quiet (a pipe that writes slowly): send what waits rather than hold it for more lines.
          if (!this.haltReason && batch.entries.length > 0) {
            await this.dispatch(batch);
            batch = this.newBatch();
          }
          continue;
        }
        if (got.done) {
          if (batch.entries.length > 0) await this.dispatch(batch);
          readToEnd = !this.haltReason;
          break;
        }
        next = lines.next();
        const raw = got.value;
        this.lastLine = raw.number;
        if (raw.number < this.o.fromLine) continue;
        const entry = toEntry(raw);
        if (!entry) {
          this.blank += 1;
          continue;
        }
        if (entry.item && batch.items.length > 0 && batch.bytes + raw.bytes > MAX_BATCH_BYTES) {
          await this.dispatch(batch);
          batch = this.newBatch();
        }
        this.add(batch, raw, entry);
        if (batch.entries.length >= this.o.batchSize) {
          await this.dispatch(batch);
          batch = this.newBatch();
        }
      }
    } catch (err) {
      this.stop(`cannot read the input: ${(err as Error).message}`);
    } finally {
      this.o.signal?.removeEventListener('abort', interrupt);
      // Not awaited: a read may still be pending on a pipe that never ends; returning closes the stream after it.
      lines.return(undefined).catch(() => undefined);
    }
    while (this.sends.size > 0) await Promise.all([...this.sends]);
    await this.commits;
    const report: BulkReport = { counts: { ...this.counts }, blank: this.blank, lastLine: this.lastLine };
    if (!readToEnd || this.open.size > 0) report.stopped = { reason: this.haltReason ?? 'stopped', resumeLine: this.committedThrough + 1 };
    return report;
  }

  /** The next line, or WOKEN when the run halts or (with `flushWhenIdle`) no line came for idleFlushMs. */
  private nextLine(next: Promise<IteratorResult<RawLine>>, flushWhenIdle: boolean): Promise<IteratorResult<RawLine> | typeof WOKEN> {
    let timer: NodeJS.Timeout | undefined;
    return new Promise<IteratorResult<RawLine> | typeof WOKEN>((resolve, reject) => {
      if (flushWhenIdle) timer = setTimeout(() => resolve(WOKEN), this.o.idleFlushMs ?? IDLE_FLUSH_MS);
      this.wakeReader = () => resolve(WOKEN);
      next.then(resolve, reject);
    }).finally(() => {
      clearTimeout(timer);
      this.wakeReader = undefined;
    });
  }

  private add(batch: Batch, raw: RawLine, { entry, item }: NonNullable<ReturnType<typeof toEntry>>): void {
    if (batch.entries.length === 0) batch.firstLine = raw.number;
    batch.lastLine = raw.number;
    batch.end = raw.end;
    batch.entries.push(entry);
    if (item) {
      batch.items.push(item);
      batch.bytes += raw.bytes + 1;
    }
  }

  private newBatch(): Batch {
    return { seq: -1, firstLine: 0, lastLine: 0, end: 0, bytes: 0, entries: [], items: [] };
  }

  /** Stops reading and sending; batches in flight are abandoned (the report's resume line covers them). */
  private stop(reason: string): void {
    this.haltReason ??= reason;
    this.halt.abort();
    this.wake?.();
    this.wakeReader?.();
  }

  private async dispatch(batch: Batch): Promise<void> {
    while (this.open.size >= this.o.concurrency && !this.haltReason) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.haltReason) return;
    batch.seq = this.nextSeq++;
    this.open.set(batch.seq, batch);
    const send: Promise<void> = this.deliver(batch)
      .then(
        (outcomes) => {
          this.answered.set(batch.seq, outcomes);
          this.commits = this.commits.then(() => this.commitReady());
        },
        (err: unknown) => this.stop(err instanceof Error ? err.message : String(err)),
      )
      .finally(() => this.sends.delete(send));
    this.sends.add(send);
  }

  /** Sends one batch until it is acknowledged; throws when it must not or can no longer be retried. */
  private async deliver(batch: Batch): Promise<LineOutcome[]> {
    if (batch.items.length === 0) return [];
    const signal = this.halt.signal;
    let firstFailure: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.o.sink.send(batch.items, signal);
      } catch (err) {
        if (signal.aborted) throw new Error(this.haltReason ?? 'stopped', { cause: err });
        if (!(err instanceof SinkError)) throw err;
        if (!err.retryable) throw new Error(`${span(batch)}: ${err.message}`, { cause: err });
        const now = Date.now();
        firstFailure ??= now;
        const left = firstFailure + this.o.retryForMs - now;
        if (left <= 0) throw new Error(`${span(batch)} not acknowledged for ${Math.round((now - firstFailure) / 1000)} s (--retry-for); last: ${err.message}`, { cause: err });
        const delay = Math.min(left, backoffMs(attempt, err.retryAfterMs));
        this.o.onNotice?.(`${span(batch)} not acknowledged (${err.message}); sending again in ${(delay / 1000).toFixed(1)} s`);
        try {
          await sleep(delay, undefined, { signal });
        } catch {
          throw new Error(this.haltReason ?? 'stopped', { cause: err });
        }
      }
    }
  }

  /** Commits, in file order, every batch whose answer is in: counts, rejects, progress. */
  private async commitReady(): Promise<void> {
    for (;;) {
      const outcomes = this.answered.get(this.nextCommit);
      const batch = this.open.get(this.nextCommit);
      if (!outcomes || !batch) return;
      this.answered.delete(batch.seq);
      const tally: Counts = { created: 0, duplicate: 0, conflict: 0, invalid: 0 };
      let k = 0;
      try {
        for (const entry of batch.entries) {
          const outcome = entry.local ?? outcomes[k++]!;
          tally[outcome.result] += 1;
          if (outcome.result === 'invalid' || outcome.result === 'conflict') {
            await this.o.rejects.write({ line: entry.line, result: outcome.result, errors: outcome.errors ?? [], ...truncateInput(entry.text, entry.overflowed) });
          }
        }
      } catch (err) {
        this.stop(`cannot write the rejects file: ${(err as Error).message}`);
        return;
      }
      for (const result of Object.keys(tally) as LineResult[]) this.counts[result] += tally[result];
      this.committedLines += batch.entries.length;
      this.committedEnd = batch.end;
      this.committedThrough = batch.lastLine;
      this.open.delete(batch.seq);
      this.nextCommit += 1;
      this.o.onProgress?.({ lines: this.committedLines, bytes: this.committedEnd, counts: this.counts });
      this.wake?.();
    }
  }
}
