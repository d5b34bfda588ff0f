import { isRecord } from '../domain/json.js';
import { ambiguous, clientError, rejected, retryable, success, type Outcome } from '../domain/outcome.js';
import { maskPersonalData } from '../domain/personal-data.js';
import { signFreedomPayRequest } from './freedompay-jws.js';
import { receiptSchema } from './freedompay-request.js';
import type { ReceiptSpec } from './spec.js';
import { classifyTransport, responseForRecord, type ProviderAnswer, type ProviderTransport } from './transport.js';

/** Seed 004: create (POST), list (GET) and read one (GET /{receipt_id}), every call signed with X-JWS-Signature. */
export const RECEIPTS_PATH = '/v5/receipts';

/**
 * Seed 004 "Объект чека", as far as the product reads it. `status` decides (created `pending`, then `registered` with
 * the fiscal numbers and link, or `failed`); `receipt_id` is needed to follow a pending receipt; `payment_id` and
 * `operation_type` identify the sale; `total`, `positions` and `settlements` are compared with the request. Every other
 * field may be missing, null or of another type, and the record keeps the object as it came (CONTRACT §4).
 */
export type ReceiptObject = Record<string, unknown>;

/** Seed 004 statuses. */
export type ReceiptStatus = 'pending' | 'registered' | 'failed';

const RECEIPT_STATUSES: ReadonlySet<unknown> = new Set<ReceiptStatus>(['pending', 'registered', 'failed']);

export function receiptStatus(receipt: ReceiptObject): ReceiptStatus | undefined {
  return RECEIPT_STATUSES.has(receipt.status) ? (receipt.status as ReceiptStatus) : undefined;
}

export function receiptIdOf(receipt: ReceiptObject): string | undefined {
  const id = receipt.receipt_id;
  return typeof id === 'string' && id ? id : typeof id === 'number' ? String(id) : undefined;
}

/** The sale a receipt belongs to: payment_id (a string or an integer, seed 004) and operation type. */
export function receiptSale(receipt: ReceiptObject): { payment_id: string; operation_type: string } | undefined {
  const { payment_id, operation_type } = receipt;
  if ((typeof payment_id !== 'string' && typeof payment_id !== 'number') || typeof operation_type !== 'string') return undefined;
  return { payment_id: String(payment_id), operation_type };
}

/** `{data: <receipt object>}` of a create or a read; `{data: [...]}` of a list. */
function dataOf(answer: Extract<ProviderAnswer, { kind: 'http' }>): unknown {
  return isRecord(answer.json) ? answer.json.data : undefined;
}

function failedReceipt(receipt: ReceiptObject, response: unknown): Outcome {
  const e = receipt.error;
  const code = isRecord(e) && (typeof e.code === 'string' || typeof e.code === 'number') ? String(e.code) : 'receipt_failed';
  const said = isRecord(e) ? e.message : e;
  const message = typeof said === 'string' && said ? said : `receipt ${receiptIdOf(receipt) ?? ''} failed at Freedom Pay`.replace('  ', ' ');
  return rejected(code, message, response);
}

function clientErrorOf(answer: Extract<ProviderAnswer, { kind: 'http' }>): Outcome {
  const hint = answer.status === 401 || answer.status === 403 ? ' (check FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY)' : '';
  const said = (answer.json as { error?: { message?: unknown } } | undefined)?.error?.message;
  return clientError(`http_${answer.status}`, `freedompay answered HTTP ${answer.status}${typeof said === 'string' ? `: ${said}` : ''}${hint}`, responseForRecord(answer));
}

/**
 * Create: once the request may have reached Freedom Pay without a clear answer (timeout, reset, 5xx, 429, a body that
 * is not a receipt, a status that is none of the three, a pending receipt without its id) a receipt may exist, so the
 * outcome is `ambiguous` and the next attempt looks it up before creating (CONTRACT §4). Only a request that provably
 * never left is plainly retryable.
 */
export function classifyReceiptCreate(answer: ProviderAnswer): Outcome {
  if (answer.kind !== 'http') {
    if (answer.kind === 'network' && !answer.requestSent) return retryable(answer.code, `${answer.message} (the receipt was not sent)`);
    return ambiguous(answer.code, `${answer.message}; the receipt may have been created`);
  }
  const response = responseForRecord(answer);
  if (answer.status === 429 || answer.status >= 500) return ambiguous(`http_${answer.status}`, `freedompay answered HTTP ${answer.status}; the receipt may have been created`, response);
  if (answer.status < 200 || answer.status >= 300) return clientErrorOf(answer);
  const receipt = dataOf(answer);
  if (!isRecord(receipt)) return ambiguous('undocumented_body', 'freedompay answered a body that is not the documented receipt; it may have been created', response);
  const status = receiptStatus(receipt);
  if (status === 'failed') return failedReceipt(receipt, response);
  if (status === undefined) return ambiguous('undocumented_status', `freedompay answered receipt status ${JSON.stringify(receipt.status ?? null)}; it may have been created`, response);
  if (status === 'pending' && !receiptIdOf(receipt)) return ambiguous('no_receipt_id', 'freedompay answered a pending receipt without its receipt_id; it cannot be followed', response);
  return success(maskPersonalData(receipt));
}

/** Read one: a GET is safe to repeat, so transport trouble is plainly retryable; `failed` ends the receipt. */
export function classifyReceiptRead(answer: ProviderAnswer): Outcome {
  const byTransport = readTransport(answer);
  if (byTransport) return byTransport;
  const http = answer as Extract<ProviderAnswer, { kind: 'http' }>;
  const response = responseForRecord(http);
  const receipt = dataOf(http);
  if (!isRecord(receipt)) return retryable('undocumented_body', 'freedompay answered a body that is not the documented receipt', { providerResponse: response });
  const status = receiptStatus(receipt);
  if (status === 'failed') return failedReceipt(receipt, response);
  if (status === undefined) {
    return retryable('undocumented_status', `freedompay receipt status ${JSON.stringify(receipt.status ?? null)} is not one of pending, registered, failed`, { providerResponse: response });
  }
  return success(maskPersonalData(receipt));
}

/** List: `data` is an array of receipt objects, newest first (seed 004); the items are kept as they came. */
export function classifyReceiptList(answer: ProviderAnswer): Outcome {
  const byTransport = readTransport(answer);
  if (byTransport) return byTransport;
  const http = answer as Extract<ProviderAnswer, { kind: 'http' }>;
  const list = dataOf(http);
  if (!Array.isArray(list)) return retryable('undocumented_body', 'freedompay answered a list that is not the documented JSON', { providerResponse: responseForRecord(http) });
  return success(maskPersonalData(list.filter(isRecord)));
}

function readTransport(answer: ProviderAnswer): Outcome | undefined {
  if (answer.kind === 'http' && answer.status >= 400 && answer.status < 500 && answer.status !== 429) return clientErrorOf(answer);
  return classifyTransport(answer, 'freedompay');
}

export interface FreedomPayCredentials {
  merchantId: string;
  secretKey: string;
}

export interface ListQuery {
  paymentId?: string;
  /** YYYY-MM-DD, inclusive. */
  from?: string;
  to?: string;
  offset?: number;
  limit?: number;
}

/** Seed 004 sends `merchant_id` as an integer (542088); a numeric configuration value is sent the same way. */
export function merchantIdValue(merchantId: string): string | number {
  return /^\d{1,15}$/.test(merchantId) ? Number(merchantId) : merchantId;
}

/** The three receipt calls, signed as Freedom Pay's v5 API requires (GETs too, with an empty payload). */
export class FreedomPayClient {
  private readonly basePath: string;

  constructor(
    private readonly transport: ProviderTransport,
    baseUrl: string,
    private readonly credentials: FreedomPayCredentials,
  ) {
    this.basePath = new URL(baseUrl).pathname.replace(/\/+$/, '');
  }

  /** `body` is the API request without `merchant_id`; it comes from configuration, as the seed puts it in the body. */
  create(body: Record<string, unknown>): Promise<ProviderAnswer> {
    return this.send('POST', RECEIPTS_PATH, JSON.stringify({ ...body, merchant_id: merchantIdValue(this.credentials.merchantId) }));
  }

  get(receiptId: string): Promise<ProviderAnswer> {
    return this.send('GET', `${RECEIPTS_PATH}/${encodeURIComponent(receiptId)}`);
  }

  list(query: ListQuery): Promise<ProviderAnswer> {
    const params = new URLSearchParams();
    if (query.paymentId !== undefined) params.set('payment_id', query.paymentId);
    if (query.from !== undefined) params.set('created_at[gte]', query.from);
    if (query.to !== undefined) params.set('created_at[lte]', query.to);
    // Dates are compared in UTC on both sides (the seed's `utc` parameter is the hour offset).
    if (query.from !== undefined || query.to !== undefined) params.set('utc', '0');
    if (query.offset !== undefined) params.set('offset', String(query.offset));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const search = params.toString();
    return this.send('GET', search ? `${RECEIPTS_PATH}?${search}` : RECEIPTS_PATH);
  }

  private send(method: 'GET' | 'POST', path: string, body?: string): Promise<ProviderAnswer> {
    const { merchantId, secretKey } = this.credentials;
    const signature = signFreedomPayRequest({ method, uri: this.basePath + path, merchantId: merchantIdValue(merchantId), secretKey, body });
    return this.transport.send(method, path, body, { 'x-jws-signature': signature });
  }
}

export const freedompay: ReceiptSpec = {
  name: 'freedompay',
  kind: 'receipt',
  title: 'Freedom Pay',
  base: 'freedompay',
  path: RECEIPTS_PATH,
  processor: 'receipt',
  request: () => receiptSchema,
  classify: classifyReceiptCreate,
};
