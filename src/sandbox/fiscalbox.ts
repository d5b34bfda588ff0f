import { randomUUID } from 'node:crypto';
import { CLIENT_PHONE, MESSAGES, PAYME_GO, objectId } from './fixtures.js';
import { isObject, nonEmptyString } from './json.js';
import type { Reply } from './types.js';
import { BoundedMap, DEFAULT_MAX_RECORDS } from './limits.js';

/** The FiscalBox endpoints (seeds 000–003, Click) and what they remember between calls. */

export type FiscalBoxEndpoint = 'payme_confirm' | 'uzum_confirm' | 'anor_confirm' | 'click_confirm' | 'payme_go';

export const FISCALBOX_ROUTES: ReadonlyMap<string, FiscalBoxEndpoint> = new Map([
  ['/payment/payme_confirm', 'payme_confirm'],
  ['/payment/uzum_confirm', 'uzum_confirm'],
  ['/payment/anor_confirm', 'anor_confirm'],
  ['/payment/click_confirm', 'click_confirm'],
  ['/payment/payme', 'payme_go'],
]);

// The field carrying each endpoint's fault key; Payme Go's only id is the customer's code (seed 003).
const KEY_FIELD: Record<FiscalBoxEndpoint, string> = {
  payme_confirm: 'payment_id',
  uzum_confirm: 'payment_id',
  anor_confirm: 'transaction_id',
  click_confirm: 'payment_id',
  payme_go: 'qr_code',
};

type Body = Record<string, unknown>;
type Confirm = Exclude<FiscalBoxEndpoint, 'payme_go'>;

// JSON-RPC "invalid params", which FiscalBox answers with HTTP 200 (seeds 001 and 003).
export const INVALID_PARAMS = -32602;
export const REJECTED = -31001;
export const CONFLICT = 409;

/**
 * The words FiscalBox answers an error code with (../shared/fiscalbox-live.md). Code 7 is a validation failure whose
 * message is itself JSON (field → problems); 104 is worded BILLING_ERROR live, although the notes call it
 * INVALID_ARGUMENT.
 */
const REFUSAL_WORDS: Record<number, string> = {
  7: '{"payment_id":["This field may not be blank."]}',
  103: 'INTERNAL_ERROR',
  104: 'BILLING_ERROR',
  105: 'BILLING_ERROR',
  106: 'PAYMENT_ERROR',
  333: 'SUBSCRIPTION_UP_TO_DATE',
  401: 'INVALID_CLASS_CODE',
};

export function refusalWords(code: number): string {
  return REFUSAL_WORDS[code] ?? `error ${code}`;
}

/** `{data: null, error: {code, message, data: null}, is_success: false}`: the seeds' failure envelope. */
export function fiscalBoxError(code: number, message: string, status = 200): Reply {
  return { status, body: { data: null, error: { code, message, data: null }, is_success: false } };
}

export function fiscalBoxKey(endpoint: FiscalBoxEndpoint, body: unknown): string {
  const value = isObject(body) ? body[KEY_FIELD[endpoint]] : undefined;
  return typeof value === 'string' ? value : '';
}

/** The message names the field, so a product bug shows up as a readable rejection. */
export function validateFiscalBox(endpoint: FiscalBoxEndpoint, body: unknown): string | undefined {
  if (!isObject(body)) return 'request body must be a JSON object';
  if (endpoint === 'payme_go') {
    const amount = body['amount'];
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount <= 0) return 'amount is required and must be a positive integer (sums)';
  } else {
    const field = KEY_FIELD[endpoint];
    if (!nonEmptyString(body[field])) return `${field} is required and must be a non-empty string`;
  }
  if (!nonEmptyString(body['qr_code'])) return 'qr_code is required and must be a non-empty string';
  return undefined;
}

export class FiscalBoxState {
  // Confirmations per endpoint: id → the QR it was fiscalized with and the data answered then. The newest `maxRecords`
  // per endpoint (limits.ts): a repeat of an id forgotten since is answered as a first confirmation.
  readonly #confirmed = new Map<Confirm, BoundedMap<string, { qr: string; data: unknown }>>();
  #paymeSeq = 0;
  #anorSeq = 123455; // seed 002 shows payment_id 123456

  constructor(private readonly maxRecords = DEFAULT_MAX_RECORDS) {}

  /**
   * Applies the side effect and builds the answer. `fail` = the `fail` directive (data-level failure); `live` = the
   * `live` directive (a success in the form FiscalBox answers it live: ../shared/fiscalbox-live.md).
   */
  execute(endpoint: FiscalBoxEndpoint, body: Body, fail: boolean, live = false): Reply {
    if (endpoint === 'payme_go') return success(this.#charge(body, fail, live));
    const id = body[KEY_FIELD[endpoint]] as string;
    const qr = body['qr_code'] as string;
    let byId = this.#confirmed.get(endpoint);
    if (!byId) this.#confirmed.set(endpoint, (byId = new BoundedMap(this.maxRecords)));
    // At-least-once delivery: a repeat with the same QR gets the same answer; another QR is refused.
    const earlier = byId.get(id);
    if (earlier) return earlier.qr === qr ? success(earlier.data) : fiscalBoxError(CONFLICT, MESSAGES.alreadyFiscalized);
    const data = this.#confirm(endpoint, id, fail, live);
    if (!fail) byId.set(id, { qr, data });
    return success(data);
  }

  reset(): void {
    this.#confirmed.clear();
    this.#paymeSeq = 0;
    this.#anorSeq = 123455;
  }

  #confirm(endpoint: Confirm, id: string, fail: boolean, live: boolean): unknown {
    switch (endpoint) {
      case 'payme_confirm': {
        // seed 000: data.error is null on success; a failure reports it there and has no result
        const n = ++this.#paymeSeq;
        if (fail) return { id: n, error: MESSAGES.paymeNotFound };
        // live: id, create_time and pay_time come back null
        if (live) return { id: null, result: { receipt: { _id: id, create_time: null, pay_time: null } }, error: null };
        const now = Date.now();
        return { id: n, result: { receipt: { _id: id, create_time: now, pay_time: now } }, error: null };
      }
      case 'uzum_confirm':
        // seed 001: error_code is a string, "0" on success; live: no phone number
        return fail
          ? { payment_id: id, payment_status: 'FAILED', error_code: '-31050', error_message: MESSAGES.uzumFailed, client_phone_number: CLIENT_PHONE }
          : { payment_id: id, payment_status: 'SUCCESS', error_code: '0', error_message: null, client_phone_number: live ? null : CLIENT_PHONE };
      case 'anor_confirm':
        // seed 002: error_code is an integer, payment_id an integer; live: every field but transaction_id null
        if (fail) return { message: MESSAGES.anorFailed, error_code: 1, payment_id: ++this.#anorSeq, transaction_id: id };
        if (live) return { message: null, error_code: null, payment_id: null, transaction_id: id };
        return { message: MESSAGES.anorSuccess, error_code: 0, payment_id: ++this.#anorSeq, transaction_id: id };
      case 'click_confirm':
        // FiscalBox's Click page shows one form, its live success: every field but status null.
        return { inn: null, payment_id: null, qr_code: null, status: fail ? 'error' : 'successfully', error: fail ? MESSAGES.clickFailed : null };
    }
  }

  /**
   * seed 003: every charge is a new transaction, even for the same code (the product must not repeat one). Live, the
   * status reads "success" (the notes' word, not the seed's "successfully") and what the seed shows of the
   * merchant's device and the customer is null.
   */
  #charge(body: Body, fail: boolean, live: boolean): unknown {
    return {
      amount: body['amount'],
      transaction_id: randomUUID(),
      payment_id: objectId(),
      inn: live ? null : PAYME_GO.inn,
      qr_code: body['qr_code'],
      kkm_id: live ? null : PAYME_GO.kkm_id,
      device_id: live ? null : PAYME_GO.device_id,
      status: fail ? 'failed' : live ? 'success' : 'successfully',
      message: fail ? MESSAGES.paymeGoFailed : live ? null : MESSAGES.paymeGoSuccess,
      client_phone_number: live ? null : CLIENT_PHONE,
    };
  }
}

function success(data: unknown): Reply {
  return { status: 200, body: { data, error: null, is_success: true } };
}
