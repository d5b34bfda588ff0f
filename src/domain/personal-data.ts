/** Keys whose values are personal data in the seeds (001, 003: `client_phone_number`). */
const PERSONAL_KEYS = new Set(['client_phone_number', 'phone', 'phone_number']);

/** `998712565009` → `998*****5009`: enough for support to recognise a customer, useless to anyone else. */
export function maskPhone(value: string): string {
  if (value.length <= 7) return '*'.repeat(value.length);
  return `${value.slice(0, 3)}${'*'.repeat(value.length - 7)}${value.slice(-4)}`;
}

/**
 * Returns a copy of a provider body with personal data masked, so it can be stored in job data, records, logs and
 * the board. Only objects that contain a personal key are copied; everything else is returned as is.
 */
export function maskPersonalData<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => maskPersonalData(item)) as T;
  if (!value || typeof value !== 'object') return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, inner] of Object.entries(value)) {
    let next = inner;
    if (PERSONAL_KEYS.has(key) && (typeof inner === 'string' || typeof inner === 'number')) next = maskPhone(String(inner));
    else if (inner && typeof inner === 'object') next = maskPersonalData(inner);
    if (next !== inner) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = next;
    }
  }
  return (copy ?? value) as T;
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

/**
 * Returns a copy with every Payme code masked wherever it sits (seed 003: the charge request's `qr_code`, and the
 * answer's `data.qr_code`, which the sandbox echoes), and personal data masked as `maskPersonalData` does.
 */
export function maskPaymeCodes<T>(value: T): T {
  return maskCodes(maskPersonalData(value)) as T;
}

function maskCodes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskCodes);
  if (!value || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] = key === 'qr_code' && typeof inner === 'string' && PAYME_CODE.test(inner) ? maskPaymeCode(inner) : maskCodes(inner);
  }
  return copy;
}
