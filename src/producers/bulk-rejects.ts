import { once } from 'node:events';
import { open, unlink } from 'node:fs/promises';
import type { WriteStream } from 'node:fs';
import type { FieldProblem } from '../domain/problems.js';

/** One line of the rejects file: a line of the input that was not accepted, why, and what it said. */
export interface Reject {
  line: number;
  result: 'invalid' | 'conflict';
  errors: FieldProblem[];
  /** The line as read, cut at INPUT_KEEP_CHARS. */
  input: string;
  input_truncated?: true;
}

/** Enough of a line to find it and see what was wrong; a line may be up to MAX_LINE_BYTES. */
export const INPUT_KEEP_CHARS = 1000;

export interface RejectsSink {
  write(reject: Reject): Promise<void>;
}

/**
 * The rejects file (NDJSON). Opened before anything is sent, so an unwritable path stops the run before it starts.
 * A fresh run truncates it and removes it at the end when nothing was rejected (no stale file from an earlier run);
 * a resumed run (`--from-line`) appends to what the interrupted run wrote.
 */
export class RejectsFile implements RejectsSink {
  private written = 0;
  private closed: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    private readonly stream: WriteStream,
    private readonly append: boolean,
  ) {}

  static async open(path: string, append: boolean): Promise<RejectsFile> {
    const handle = await open(path, append ? 'a' : 'w');
    return new RejectsFile(path, handle.createWriteStream(), append);
  }

  get count(): number {
    return this.written;
  }

  write(reject: Reject): Promise<void> {
    this.written += 1;
    if (this.stream.write(`${JSON.stringify(reject)}\n`)) return Promise.resolve();
    // Back-pressure: a slow disk must not make the rejects pile up in memory.
    return once(this.stream, 'drain').then(() => undefined);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stream.end();
      await once(this.stream, 'close');
      if (!this.append && this.written === 0) await unlink(this.path).catch(() => undefined);
    })();
    return this.closed;
  }
}

export function truncateInput(text: string, overflowed: boolean): Pick<Reject, 'input' | 'input_truncated'> {
  return text.length > INPUT_KEEP_CHARS || overflowed ? { input: text.slice(0, INPUT_KEEP_CHARS), input_truncated: true } : { input: text };
}
