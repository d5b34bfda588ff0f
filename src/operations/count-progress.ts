import { SingleBar } from 'cli-progress';
import { PLAIN_INTERVAL_MS, rate, timeLeft, type ProgressStream } from '../producers/bulk-progress.js';

/**
 * Progress of a long `fiscal-worker dead` run on stderr, as `enqueue` shows its own (producers/bulk-progress.ts): a bar
 * with rate and ETA on a terminal, one plain line every PLAIN_INTERVAL_MS otherwise (logs, CI), and a closing line.
 */
export interface CountProgress {
  update(done: number, total: number): void;
  /** Ends the bar and prints the closing line: how many, how long, how fast. */
  stop(): void;
}

/** `label`: what is counted, e.g. `dead replay`. */
export function createCountProgress(stream: ProgressStream, label: string): CountProgress {
  return stream.isTTY ? new BarProgress(stream, label) : new PlainProgress(stream, label);
}

abstract class Counting implements CountProgress {
  protected readonly startedAt = Date.now();
  protected done = 0;
  protected total = 0;

  constructor(
    protected readonly stream: ProgressStream,
    protected readonly label: string,
  ) {}

  update(done: number, total: number): void {
    this.done = done;
    this.total = total;
  }

  stop(): void {
    const seconds = (Date.now() - this.startedAt) / 1000;
    this.stream.write(`${this.label}: ${this.done} of ${this.total} in ${seconds.toFixed(1)} s (${rate(this.done, this.startedAt)}/s)\n`);
  }
}

class BarProgress extends Counting {
  private readonly bar: SingleBar;

  constructor(stream: ProgressStream, label: string) {
    super(stream, label);
    this.bar = new SingleBar({
      stream: stream as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {time_left}`,
      hideCursor: true,
      gracefulExit: false,
      fps: 5,
      barsize: 30,
    });
    this.bar.start(0, 0, { rate: 0, time_left: '…' });
  }

  override update(done: number, total: number): void {
    super.update(done, total);
    this.bar.setTotal(total);
    this.bar.update(done, { rate: rate(done, this.startedAt), time_left: timeLeft(done, total, this.startedAt) });
  }

  override stop(): void {
    this.bar.stop();
    super.stop();
  }
}

class PlainProgress extends Counting {
  private readonly timer: NodeJS.Timeout;

  constructor(stream: ProgressStream, label: string) {
    super(stream, label);
    this.timer = setInterval(() => this.stream.write(`${this.label}: ${this.done} of ${this.total}, ${rate(this.done, this.startedAt)}/s\n`), PLAIN_INTERVAL_MS);
    this.timer.unref();
  }

  override stop(): void {
    clearInterval(this.timer);
    super.stop();
  }
}
