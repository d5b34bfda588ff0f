import { randomBytes } from 'node:crypto';

/** Constant values copied from the seed examples, so sandbox answers look like the documents. */

// seeds 001 and 003: the documented client phone number
export const CLIENT_PHONE = '998712565009';

// seed 003 (Payme Go)
export const PAYME_GO = { inn: '123456789', kkm_id: '00000011', device_id: '00000011' } as const;

// seed 004 (Freedom Pay)
export const FREEDOMPAY_DEFAULT_MERCHANT = '542088';
export const FREEDOMPAY_RECEIPT_FORMAT = 'ru_1_05';
export const FREEDOMPAY_COMPANY = { inn: '5544332219', email: 'customer@mail.ru', tax_system: 'osn', payment_address: 'shop.ru' } as const;
export const FISCAL_STORAGE_NUMBER = '9999078900006369';
export const OFD_LINK_BASE = 'https://consumer.1-ofd-test.ru/v1';

// Messages the sandbox answers with; constant so tests and docs can quote them.
export const MESSAGES = {
  anorSuccess: 'Fiscalization completed successfully',
  anorFailed: 'Transaction not found',
  paymeNotFound: 'Payment not found',
  uzumFailed: 'Payment not found or already cancelled',
  clickFailed: 'Click payment not found',
  paymeGoSuccess: 'successfully payment',
  paymeGoFailed: 'Payment declined: insufficient funds',
  rejected: 'Payment rejected by provider',
  alreadyFiscalized: 'payment already fiscalized with another receipt',
  receiptFailed: 'Fiscal storage rejected the receipt',
} as const;

export const GARBAGE_BODY = '<html>502 Bad Gateway</html>';

/** A 24-hex id like the seeds' Payme payment ids (a MongoDB ObjectId). */
export function objectId(): string {
  return randomBytes(12).toString('hex');
}

/**
 * Seed 004 timestamps, "DD.MM.YYYY HH:MM:SS". The sandbox keeps all times in UTC (the seed's `utc` list parameter is
 * ignored) so that tests computing dates never straddle a time zone.
 */
export function formatProviderTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}.${pad(d.getUTCMonth() + 1)}.${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** Inverse of formatProviderTime; also accepts the seed's typo without the space ("10.04.202315:34:12"). */
export function parseProviderTime(text: string): number | undefined {
  const m = /^(\d{2})\.(\d{2})\.(\d{4}) ?(\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [, dd, mm, yyyy, hh, mi, ss] = m;
  return Date.UTC(Number(yyyy), Number(mm) - 1, Number(dd), Number(hh), Number(mi), Number(ss));
}

/** "YYYY-MM-DD" in UTC: what the list filters `created_at[gte|lte]` compare against. */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The `t=` parameter of the seed's OFD link, e.g. 20230330T152000. */
export function compactTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace(/[-:]/g, '');
}

/** Money in sums with two decimals, so 0.1 * 3 is 0.3 and not 0.30000000000000004. */
export function money(value: number): number {
  return Math.round(value * 100) / 100;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
