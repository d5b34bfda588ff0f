import { MAX_JSON_DEPTH, jsonDepth } from '../domain/json-depth.js';

/**
 * NDJSON input for `fiscal-worker enqueue` (CONTRACT §1): one JSON value per line, read as a stream so a file of
 * millions of lines costs the same memory as a file of ten. node:readline would buffer an endless line whole, so
 * lines are split here, on the byte 0x0A (never part of a multi-byte UTF-8 character), with a cap per line.
 */

export interface RawLine {
  /** 1-based physical line number, blank lines included, so it matches `sed -n <N>p FILE`. */
  number: number;
  /** The line without its line break (`\n` or `\r\n`); at most `maxBytes` of it when `overflowBytes` > 0. */
  text: string;
  /** Bytes of `text` as read (before decoding). */
  bytes: number;
  /** Bytes of the input consumed up to the end of this line (progress and ETA against the file size). */
  end: number;
  /** Bytes beyond `maxBytes` that were dropped: the line is too long to be a confirmation. */
  overflowBytes: number;
}

const NEWLINE = 0x0a;
const BOM = '\uFEFF';

/** Splits a byte stream into lines; keeps at most `maxBytes` of any one line in memory. */
export async function* readLines(input: AsyncIterable<Buffer | string>, maxBytes: number): AsyncGenerator<RawLine> {
  let parts: Buffer[] = [];
  let kept = 0;
  let overflow = 0;
  let number = 0;
  let offset = 0;

  const append = (piece: Buffer) => {
    const room = maxBytes - kept;
    if (piece.length <= room) {
      if (piece.length > 0) parts.push(piece);
      kept += piece.length;
      return;
    }
    if (room > 0) parts.push(piece.subarray(0, room));
    kept = maxBytes;
    overflow += piece.length - room;
  };
  const take = (): RawLine => {
    number += 1;
    let text = (parts.length === 1 ? parts[0]! : Buffer.concat(parts, kept)).toString('utf8');
    if (overflow === 0 && text.endsWith('\r')) text = text.slice(0, -1);
    if (number === 1 && text.startsWith(BOM)) text = text.slice(1);
    const line = { number, text, bytes: kept, end: offset, overflowBytes: overflow };
    parts = [];
    kept = 0;
    overflow = 0;
    return line;
  };

  for await (const data of input) {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline === -1) {
        append(chunk.subarray(start));
        offset += chunk.length - start;
        break;
      }
      append(chunk.subarray(start, newline));
      offset += newline + 1 - start;
      start = newline + 1;
      yield take();
    }
  }
  // The last line needs no line break.
  if (kept > 0 || overflow > 0) yield take();
}

export type ParsedLine = { ok: true; value: unknown } | { ok: false; message: string };

/** A line goes to the API inside `{"items":[…]}`: two levels of the API's limit (CONTRACT §3) are the wrapper's. */
export const MAX_LINE_DEPTH = MAX_JSON_DEPTH - 2;

/** Keys fastify's JSON parser refuses (prototype poisoning): one of them would make the API reject a whole batch. */
const SUSPECT = /proto|constructor|\\u/i;

/** One line as JSON; the reason when it is not, or when the API would refuse the whole batch because of it. */
export function parseJsonLine(text: string): ParsedLine {
  // Before parsing: a line nested 100,000 deep costs one loop here, and would make the API refuse the whole batch.
  if (jsonDepth(text, MAX_LINE_DEPTH) > MAX_LINE_DEPTH) return { ok: false, message: `nested deeper than ${MAX_LINE_DEPTH} levels` };
  let forbidden: string | undefined;
  try {
    const value = SUSPECT.test(text)
      ? JSON.parse(text, (key, v: unknown) => {
          if (key === '__proto__' || (key === 'constructor' && typeof v === 'object' && v !== null && Object.hasOwn(v, 'prototype'))) forbidden ??= key;
          return v;
        })
      : JSON.parse(text);
    if (forbidden) return { ok: false, message: `forbidden key ${forbidden}: prototype keys are refused` };
    return { ok: true, value };
  } catch (err) {
    return { ok: false, message: `not JSON: ${(err as Error).message}` };
  }
}
