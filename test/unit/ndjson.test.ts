import { describe, expect, it } from 'vitest';
import { parseJsonLine, readLines, type RawLine } from '../../src/producers/ndjson.js';

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.isBuffer(part) ? part : Buffer.from(part);
}

async function all(input: AsyncIterable<Buffer>, maxBytes = 1024): Promise<RawLine[]> {
  const out: RawLine[] = [];
  for await (const line of readLines(input, maxBytes)) out.push(line);
  return out;
}

describe('readLines', () => {
  it('numbers every physical line, blank ones included, across chunk boundaries', async () => {
    const lines = await all(chunks('{"a":1}\n\n{"b"', ':2}\r\n', '{"c":3}'));
    expect(lines.map((l) => [l.number, l.text])).toEqual([
      [1, '{"a":1}'],
      [2, ''],
      [3, '{"b":2}'],
      [4, '{"c":3}'],
    ]);
    // Byte offsets after each line, for progress against the file size.
    expect(lines.map((l) => l.end)).toEqual([8, 9, 18, 25]);
  });

  it('keeps a multi-byte character split between chunks whole and drops a leading BOM', async () => {
    const text = '\uFEFF{"name":"Товар №1"}\n';
    const bytes = Buffer.from(text);
    const cut = bytes.indexOf(Buffer.from('в')) + 1; // inside the two bytes of "в"
    const lines = await all(chunks(bytes.subarray(0, cut), bytes.subarray(cut)));
    expect(lines).toEqual([{ number: 1, text: '{"name":"Товар №1"}', bytes: bytes.length - 1, end: bytes.length, overflowBytes: 0 }]);
  });

  it('keeps at most maxBytes of an endless line and goes on with the next one', async () => {
    const long = 'x'.repeat(3000);
    const lines = await all(chunks(long.slice(0, 1000), long.slice(1000), '\n{"ok":true}\n'), 100);
    expect(lines[0]).toMatchObject({ number: 1, bytes: 100, overflowBytes: 2900 });
    expect(lines[0]!.text).toBe('x'.repeat(100));
    expect(lines[1]).toMatchObject({ number: 2, text: '{"ok":true}', overflowBytes: 0 });
    expect(lines).toHaveLength(2);
  });

  it('yields nothing for an empty input and no extra line after a final newline', async () => {
    expect(await all(chunks())).toEqual([]);
    expect((await all(chunks('{}\n'))).map((l) => l.text)).toEqual(['{}']);
  });
});

describe('parseJsonLine', () => {
  it('parses JSON and says why a line is not JSON', () => {
    expect(parseJsonLine(' {"a":[1,2]} ')).toEqual({ ok: true, value: { a: [1, 2] } });
    const bad = parseJsonLine('{"provider":"payme",');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.message).toMatch(/^not JSON: /);
  });

  it('refuses a line nested deeper than the API takes inside a batch, without parsing it', () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    expect(parseJsonLine(`{"a":${deep(29)}}`).ok).toBe(true);
    expect(parseJsonLine(`{"a":${deep(30)}}`)).toEqual({ ok: false, message: 'nested deeper than 30 levels' });
    expect(parseJsonLine(deep(100_000))).toEqual({ ok: false, message: 'nested deeper than 30 levels' });
  });

  it('refuses prototype keys, which would make the API reject the whole batch', () => {
    expect(parseJsonLine('{"provider":"payme","__proto__":{"x":1}}')).toEqual({ ok: false, message: expect.stringMatching(/forbidden key __proto__/) });
    expect(parseJsonLine('{"a":{"constructor":{"prototype":{}}}}')).toEqual({ ok: false, message: expect.stringMatching(/forbidden key constructor/) });
    expect(parseJsonLine('{"a":{"constructor":"fine"},"proto":1}').ok).toBe(true);
  });
});
