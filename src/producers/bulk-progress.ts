import { MultiBar, type SingleBar } from 'cli-progress';
import type { BulkProgress, Counts } from './bulk-import.js';

/**
 * Progress of `fiscal-worker enqueue` on stderr (CONTRACT §1): a bar with rate and ETA on a terminal, one plain line
 * every PLAIN_INTERVAL_MS otherwise (logs, CI), and notices (retries) above the bar or between the lines.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressView {
  update(progress: BulkProgress): void;
  notice(message: string): void;
  stop(): void;
}

export const PLAIN_INTERVAL_MS = 10_000;

export const formatCounts = (c: Readonly<Counts>) => `created ${c.created}, duplicate ${c.duplicate}, conflict ${c.conflict}, invalid ${c.invalid}`;

export function rate(lines: number, startedAt: number): number {
  const seconds = (Date.now() - startedAt) / 1000;
  return seconds > 0 ? Math.round(lines / seconds) : 0;
}

/** Time left at the average rate so far, by input bytes (lines vary in length; the file size is all that is known). */
export function timeLeft(done: number, total: number, startedAt: number): string {
  const elapsed = Date.now() - startedAt;
  if (done <= 0 || elapsed <= 0) return '…';
  const seconds = Math.max(0, Math.round(((total - done) * elapsed) / done / 1000));
  return seconds >= 60 ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s` : `${seconds}s`;
}

/** `totalBytes`: the input file's size when known (a regular file), for the bar and its ETA. */
export function createProgress(stream: ProgressStream, totalBytes: number | undefined): ProgressView {
  return stream.isTTY ? new BarProgress(stream, totalBytes) : new PlainProgress(stream);
}

class BarProgress implements ProgressView {
  private readonly bars: MultiBar;
  private readonly bar: SingleBar;
  private readonly total: number;
  private readonly startedAt = Date.now();

  constructor(stream: ProgressStream, totalBytes: number | undefined) {
    const known = totalBytes !== undefined && totalBytes > 0;
    // The bar moves by input bytes (the only total known before reading), so the ETA holds for uneven lines.
    const format = known ? 'enqueue [{bar}] {percentage}% | {lines} lines | {rate}/s | ETA {time_left} | {counts}' : 'enqueue {lines} lines | {rate}/s | {counts}';
    this.bars = new MultiBar({
      stream: stream as NodeJS.WritableStream,
      format,
      hideCursor: true,
      gracefulExit: false,
      fps: 5,
      barsize: 30,
    });
    this.total = known ? totalBytes : 0;
    this.bar = this.bars.create(this.total, 0, { lines: 0, rate: 0, time_left: '…', counts: '' });
  }

  update(p: BulkProgress): void {
    const c = p.counts;
    this.bar.update(p.bytes, {
      lines: p.lines,
      rate: rate(p.lines, this.startedAt),
      time_left: timeLeft(p.bytes, this.total, this.startedAt),
      counts: `${c.created} new, ${c.duplicate} dup, ${c.conflict} conflict, ${c.invalid} invalid`,
    });
  }

  notice(message: string): void {
    this.bars.log(`enqueue: ${message}\n`);
  }

  stop(): void {
    this.bars.stop();
  }
}

class PlainProgress implements ProgressView {
  private readonly startedAt = Date.now();
  private last: BulkProgress | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly stream: ProgressStream) {
    this.timer = setInterval(() => this.print(), PLAIN_INTERVAL_MS);
    this.timer.unref();
  }

  update(p: BulkProgress): void {
    this.last = p;
  }

  notice(message: string): void {
    this.stream.write(`enqueue: ${message}\n`);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private print(): void {
    const p = this.last;
    if (!p) return;
    this.stream.write(`enqueue: ${p.lines} lines, ${rate(p.lines, this.startedAt)}/s, ${formatCounts(p.counts)}\n`);
  }
}
