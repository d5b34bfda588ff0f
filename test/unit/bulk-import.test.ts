import { describe, expect, it } from 'vitest';
import { runBulkImport, type BulkImportOptions, type BulkProgress } from '../../src/producers/bulk-import.js';
import type { Reject } from '../../src/producers/bulk-rejects.js';
import { SinkError, type BulkItem, type BulkSink, type LineOutcome, type LineResult } from '../../src/producers/bulk-sinks.js';

/**
 * The bulk engine against an in-memory sink (no I/O): commit order, retries, where a stopped run resumes, and the
 * bound on what is read ahead. Each line is `{"n":<line>,"r":"<result the sink answers>"}`.
 */

const line = (n: number, r: LineResult = 'created') => JSON.stringify({ n, r });

async function* input(lines: string[], pulled?: { count: number }): AsyncGenerator<string> {
  for (const text of lines) {
    if (pulled) pulled.count += 1;
    yield `${text}\n`;
  }
}

type Answer = (items: readonly BulkItem[], call: number) => Promise<LineOutcome[]>;

class MemorySink implements BulkSink {
  readonly sent: number[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly answer: Answer = async (items) => items.map(outcomeOf)) {}
  async send(items: readonly BulkItem[]): Promise<LineOutcome[]> {
    this.sent.push(items.map((i) => (i.value as { n: number }).n));
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      return await this.answer(items, this.sent.length);
    } finally {
      this.inFlight -= 1;
    }
  }
  async close(): Promise<void> {}
}

function outcomeOf(item: BulkItem): LineOutcome {
  const { r } = item.value as { r: LineResult };
  return r === 'invalid' || r === 'conflict' ? { result: r, errors: [{ field: 'qr_code', message: r }] } : { result: r };
}

function run(lines: string[], sink: BulkSink, over: Partial<BulkImportOptions> = {}) {
  const rejects: Reject[] = [];
  const progress: BulkProgress[] = [];
  const notices: string[] = [];
  const report = runBulkImport({
    input: input(lines),
    sink,
    rejects: { write: async (r) => void rejects.push(r) },
    batchSize: 3,
    concurrency: 2,
    retryForMs: 1000,
    fromLine: 1,
    onProgress: (p) => progress.push({ ...p, counts: { ...p.counts } }),
    onNotice: (m) => notices.push(m),
    ...over,
  });
  return { report, rejects, progress, notices };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bulk import', () => {
  it('commits batches in file order whatever order the answers come in', async () => {
    const lines = [line(1), line(2, 'invalid'), line(3), line(4, 'conflict'), line(5, 'duplicate'), '', 'not json', line(8), line(9, 'invalid')];
    // The first batch answers last.
    const sink = new MemorySink(async (items, call) => {
      await sleep(call === 1 ? 30 : 1);
      return items.map(outcomeOf);
    });
    const r = run(lines, sink);
    const report = await r.report;
    expect(report).toEqual({ counts: { created: 3, duplicate: 1, conflict: 1, invalid: 3 }, blank: 1, lastLine: 9 });
    expect(r.rejects.map((x) => [x.line, x.result])).toEqual([
      [2, 'invalid'],
      [4, 'conflict'],
      [7, 'invalid'],
      [9, 'invalid'],
    ]);
    expect(r.rejects[2]).toMatchObject({ input: 'not json', errors: [{ field: '(line)', message: expect.stringMatching(/^not JSON: /) }] });
    // Progress only moves forward, and ends at every non-blank line.
    expect(r.progress.map((p) => p.lines)).toEqual([...r.progress.map((p) => p.lines)].sort((a, b) => a - b));
    expect(r.progress.at(-1)?.lines).toBe(8);
    // The not-JSON line was never sent.
    expect(sink.sent.flat()).toEqual([1, 2, 3, 4, 5, 8, 9]);
  });

  it('sends an unacknowledged batch again, the same lines, and counts each line once', async () => {
    const sink = new MemorySink(async (items, call) => {
      if (call <= 2) throw new SinkError('no answer from the API (ECONNRESET: other side closed)', true);
      return items.map(outcomeOf);
    });
    const r = run([1, 2, 3, 4].map((n) => line(n)), sink, { concurrency: 1 });
    expect((await r.report).counts).toEqual({ created: 4, duplicate: 0, conflict: 0, invalid: 0 });
    expect(sink.sent).toEqual([[1, 2, 3], [1, 2, 3], [1, 2, 3], [4]]);
    expect(r.notices).toHaveLength(2);
    expect(r.notices[0]).toMatch(/^lines 1–3 not acknowledged \(no answer from the API \(ECONNRESET: other side closed\)\); sending again in \d+\.\d s$/);
  });

  it('gives up on a batch after retryForMs and resumes from its first line, counting nothing after it', async () => {
    // Batch 2 (lines 4–6) never gets an answer; batch 3 (lines 7–9) is acknowledged but must not be counted.
    const sink = new MemorySink(async (items) => {
      if ((items[0]!.value as { n: number }).n === 4) throw new SinkError('the API did not take the batch (HTTP 503 unavailable: …)', true);
      return items.map(outcomeOf);
    });
    const r = run(Array.from({ length: 12 }, (_, i) => line(i + 1)), sink, { retryForMs: 300 });
    const report = await r.report;
    expect(report.stopped).toEqual({ reason: expect.stringMatching(/^lines 4–6 not acknowledged for 0 s \(--retry-for\); last: the API did not take the batch/), resumeLine: 4 });
    expect(report.counts).toEqual({ created: 3, duplicate: 0, conflict: 0, invalid: 0 });
    expect(r.notices.length).toBeGreaterThan(0);
  });

  it('stops at once on an error that must not be retried (a refused token)', async () => {
    const sink = new MemorySink(async () => {
      throw new SinkError('the API refused the token (HTTP 401 unauthorized: the bearer token is not valid); check --token', false);
    });
    const report = await run([line(1), line(2)], sink).report;
    expect(sink.sent).toHaveLength(1);
    expect(report.stopped).toEqual({ reason: expect.stringMatching(/^lines 1–2: the API refused the token/), resumeLine: 1 });
  });

  it('reads ahead at most `concurrency` batches while answers are pending', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const sink = new MemorySink(async (items) => {
      await held;
      return items.map(outcomeOf);
    });
    const pulled = { count: 0 };
    const report = runBulkImport({
      input: input(Array.from({ length: 1000 }, (_, i) => line(i + 1)), pulled),
      sink,
      rejects: { write: async () => undefined },
      batchSize: 10,
      concurrency: 3,
      retryForMs: 1000,
      fromLine: 1,
    });
    while (sink.sent.length < 3) await sleep(1);
    await sleep(20);
    // Three batches sent, the fourth cut and waiting for a slot, one line more pulled at most.
    expect(sink.sent).toHaveLength(3);
    expect(pulled.count).toBeLessThanOrEqual(41);
    release();
    expect((await report).counts.created).toBe(1000);
    expect(sink.maxInFlight).toBe(3);
  });

  it('sends a partial batch once a slow input has been quiet for idleFlushMs', async () => {
    const sink = new MemorySink();
    async function* slowPipe(): AsyncGenerator<string> {
      yield `${line(1)}\n${line(2)}\n`;
      // The pipe stays open until the two lines have gone out on their own.
      while (sink.sent.length === 0) await sleep(5);
      yield `${line(3)}\n`;
    }
    const report = await runBulkImport({ input: slowPipe(), sink, rejects: { write: async () => undefined }, batchSize: 100, concurrency: 2, retryForMs: 0, fromLine: 1, idleFlushMs: 20 });
    expect(sink.sent).toEqual([[1, 2], [3]]);
    expect(report.counts.created).toBe(3);
  });

  it('an interruption stops sending and says where to resume; --from-line skips what was done', async () => {
    const abort = new AbortController();
    const sink = new MemorySink(async (items) => {
      if ((items[0]!.value as { n: number }).n === 7) abort.abort();
      return items.map(outcomeOf);
    });
    const lines = Array.from({ length: 30 }, (_, i) => line(i + 1));
    const first = await run(lines, sink, { concurrency: 1, signal: abort.signal }).report;
    expect(first.stopped?.reason).toBe('interrupted');
    const resumeLine = first.stopped!.resumeLine;
    expect(resumeLine).toBeGreaterThanOrEqual(7);
    const second = await run(lines, new MemorySink(), { fromLine: resumeLine }).report;
    expect(second.stopped).toBeUndefined();
    expect(first.counts.created + second.counts.created).toBe(30);
  });

  it('as many batches in flight as --concurrency allows listen on the stop signal without a leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    // As undici does with a request's signal: a listener for as long as the batch is in flight.
    const sink: BulkSink = {
      async send(items, signal) {
        const onAbort = () => undefined;
        signal.addEventListener('abort', onAbort);
        await sleep(20);
        signal.removeEventListener('abort', onAbort);
        return items.map(outcomeOf);
      },
      async close() {},
    };
    try {
      const { report } = run(Array.from({ length: 32 * 3 }, (_, i) => line(i + 1)), sink, { concurrency: 32 });
      expect((await report).counts.created).toBe(96);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
