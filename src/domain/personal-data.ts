/** Keys whose values are personal data in the seeds (001, 003: `client_phone_number`). */
const PERSONAL_KEYS = new Set(['client_phone_number', 'phone', 'phone_number']);

/** `998712565009` → `998*****5009`: enough for support to recognise a customer, useless to anyone else. */
export function maskPhone(value: string): string {
  if (value.length <= 7) return '*'.repeat(value.length);
  return `${value.slice(0, 3)}${'*'.repeat(value.length - 7)}${value.slice(-4)}`;
}

/**
 * A customer's Payme code (seed 003 `qr_code`, a card-like number) → `5050************6427`: the first and last four
 * digits tell support which code it was; the rest would let anyone who sees it charge the customer.
 */
export function maskPaymeCode(value: string): string {
  if (value.length < 12) return '*'.repeat(value.length);
  return `${value.slice(0, 4)}${'*'.repeat(value.length - 8)}${value.slice(-4)}`;
}

/** A `qr_code` made of digits only is a customer's Payme code (6 to 64 digits); a fiscal receipt's is an https URL. */
const PAYME_CODE = /^\d+$/;

/** What a personal value looks like once masked, or the value itself when the key holds nothing personal. */
function masked(key: string, value: unknown): unknown {
  if (PERSONAL_KEYS.has(key) && (typeof value === 'string' || typeof value === 'number')) return maskPhone(String(value));
  // Seed 003: the charge answer's `data.qr_code` (the sandbox echoes the customer's code there).
  if (key === 'qr_code' && typeof value === 'string' && PAYME_CODE.test(value)) return maskPaymeCode(value);
  return value;
}

/**
 * Returns a copy of a provider body with personal data masked (phone numbers, a customer's Payme code), so it can be
 * stored in records, logs, callbacks and the board. Only objects that hold something personal are copied; everything
 * else is returned as is. A charge's own job data keeps the code it needs to charge: it never passes through here,
 * except on its way to the board.
 */
export function maskPersonalData<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => maskPersonalData(item)) as T;
  if (!value || typeof value !== 'object') return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, inner] of Object.entries(value)) {
    let next = masked(key, inner);
    if (next === inner && inner && typeof inner === 'object') next = maskPersonalData(inner);
    if (next !== inner) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = next;
    }
  }
  return (copy ?? value) as T;
}

/**
 * `maskPersonalData` for a value parsed from `text`: a body whose text names no personal key is returned as it is,
 * without walking it (most provider answers hold none; this is on every job's path). A key spelled with `\u` escapes
 * would hide from the look at the text, so such a body is always walked.
 */
export function maskPersonalDataIn<T>(text: string, value: T): T {
  return text.includes('phone') || text.includes('qr_code') || text.includes('\\u') ? maskPersonalData(value) : value;
}
