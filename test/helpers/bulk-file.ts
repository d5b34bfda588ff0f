import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';

/**
 * A large NDJSON file for `fiscal-worker enqueue`, with every kind of line mixed in at fixed places, and what the
 * CLI must make of it. Keys carry `tag`, so each file's confirmations are new on a shared Redis.
 */

export const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';
export const OTHER_QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2422&c=20230104121802&s=514343190162';

type Kind = 'valid' | 'duplicate' | 'conflict' | 'invalid' | 'not_json' | 'too_long' | 'blank';
const PROVIDERS = ['payme', 'uzum', 'anor'] as const;
const LONG_LINE = 4242;
const DUPLICATE_BACK = 5000;
const CONFLICT_BACK = 7000;

/** Line n (1-based): which kind it is. Duplicates and conflicts point back at an earlier valid line. */
export function kindOf(n: number): Kind {
  if (n === LONG_LINE) return 'too_long';
  if (n % 1000 === 500) return 'blank';
  if (n % 97 === 5) return 'invalid';
  if (n % 211 === 7) return 'not_json';
  if (n > DUPLICATE_BACK && n % 503 === 11 && kindOf(n - DUPLICATE_BACK) === 'valid') return 'duplicate';
  if (n > CONFLICT_BACK && n % 701 === 13 && kindOf(n - CONFLICT_BACK) === 'valid') return 'conflict';
  return 'valid';
}

/** The payment (or Anor transaction) id of valid line n. */
export const keyOf = (tag: string, n: number) => `bulk-${tag}-${n}`;
export const providerOf = (n: number) => PROVIDERS[n % 3]!;

function body(tag: string, n: number, qr = QR): string {
  const provider = providerOf(n);
  return JSON.stringify({ provider, [provider === 'anor' ? 'transaction_id' : 'payment_id']: keyOf(tag, n), qr_code: qr, reference: `order-${n}` });
}

function lineOf(tag: string, n: number): string {
  switch (kindOf(n)) {
    case 'valid':
      return body(tag, n);
    case 'duplicate':
      return body(tag, n - DUPLICATE_BACK);
    case 'conflict':
      return body(tag, n - CONFLICT_BACK, OTHER_QR);
    case 'invalid':
      // Turns of invalid input: a host not allowed, a missing id, an unknown provider, an unknown field.
      return [
        JSON.stringify({ provider: 'payme', payment_id: `bad-${tag}-${n}`, qr_code: 'https://example.com/check?t=1&r=2&c=3&s=4' }),
        JSON.stringify({ provider: 'uzum', qr_code: QR }),
        JSON.stringify({ provider: 'paypal', payment_id: `bad-${tag}-${n}`, qr_code: QR }),
        JSON.stringify({ provider: 'anor', transaction_id: `bad-${tag}-${n}`, qr_code: QR, amount: 100 }),
      ][n % 4]!;
    case 'not_json':
      return `{"provider":"payme","payment_id":"cut-${tag}-${n}"`;
    case 'too_long':
      return JSON.stringify({ provider: 'payme', payment_id: `long-${tag}`, qr_code: QR, reference: 'x'.repeat(700_000) });
    case 'blank':
      return n % 2 === 0 ? '' : '  ';
  }
}

export interface BulkFile {
  path: string;
  lines: number;
  /** What the summary must say on a first run. */
  expected: { created: number; duplicate: number; conflict: number; invalid: number };
  blank: number;
  /** Line numbers the rejects file must hold. */
  rejected: number[];
  /** Every valid line's provider and key: exactly one job each. */
  accepted: { provider: (typeof PROVIDERS)[number]; key: string }[];
}

/** Writes `lines` lines (every 13th ends in CRLF) and returns what enqueue must report for them. */
export async function writeBulkFile(path: string, lines: number, tag: string): Promise<BulkFile> {
  const out = createWriteStream(path);
  const file: BulkFile = { path, lines, expected: { created: 0, duplicate: 0, conflict: 0, invalid: 0 }, blank: 0, rejected: [], accepted: [] };
  for (let n = 1; n <= lines; n++) {
    const kind = kindOf(n);
    if (kind === 'valid') {
      file.expected.created += 1;
      file.accepted.push({ provider: providerOf(n), key: keyOf(tag, n) });
    } else if (kind === 'duplicate') file.expected.duplicate += 1;
    else if (kind === 'conflict') file.expected.conflict += 1;
    else if (kind === 'blank') file.blank += 1;
    else file.expected.invalid += 1;
    if (kind === 'conflict' || kind === 'invalid' || kind === 'not_json' || kind === 'too_long') file.rejected.push(n);
    if (!out.write(`${lineOf(tag, n)}${n % 13 === 0 ? '\r\n' : '\n'}`)) await once(out, 'drain');
  }
  out.end();
  await finished(out);
  return file;
}
