import { z } from 'zod';
import { ambiguous, clientError, rejected, retryable, success, type Outcome } from '../domain/outcome.js';
import { maskPersonalData } from '../domain/personal-data.js';
import { signFreedomPayRequest } from './freedompay-jws.js';
import { classifyTransport, responseForRecord, type ProviderAnswer, type ProviderTransport } from './transport.js';

/** Seed 004: create (POST), list (GET) and read one (GET /{receipt_id}), every call signed with X-JWS-Signature. */
export const RECEIPTS_PATH = '/v5/receipts';

/** Seed 004 writes fiscal numbers both as numbers (10605) and as strings ("9322", ""). */
const numberOrText = z.union([z.string(), z.number()]).nullish();

const ProviderError = z.union([z.object({ code: z.union([z.number(), z.string()]).nullish(), message: z.string().nullish() }).loose(), z.string(), z.null()]);

/** Seed 004 "Объект чека". No transforms: the record keeps the provider's object as it came. */
export const ReceiptObject = z
  .object({
    merchant_id: numberOrText,
    receipt_id: z.string().min(1),
    operation_type: z.string(),
    receipt_format: z.string().nullish(),
    status: z.string(),
    fiscal_document_number: numberOrText,
    fiscal_storage_number: numberOrText,
    fiscal_attribute: numberOrText,
    registered_at: z.string().nullish(),
    created_at: z.string().nullish(),
    fiscal_provider_id: z.string().nullish(),
    positions: z.array(z.object({ name: z.string(), quantity: z.number(), price: z.number(), sum: z.number().optional() }).loose()).optional(),
    total: z.number(),
    settlements: z.array(z.object({ type: z.string(), sum: z.number() }).loose()).optional(),
    receipt_method: z.string().nullish(),
    error: ProviderError.optional(),
    link: z.string().nullish(),
    payment_id: z.union([z.string(), z.number()]),
  })
  .loose();

export type ReceiptObject = z.infer<typeof ReceiptObject>;

const OneReceipt = z.object({ data: ReceiptObject }).loose();
const ReceiptList = z.object({ data: z.array(ReceiptObject) }).loose();

/** Seed 004 statuses: created `pending`, then `registered` (fiscal numbers and link filled in) or `failed`. */
export type ReceiptStatus = 'pending' | 'registered' | 'failed';

function failedReceipt(receipt: ReceiptObject, response: unknown): Outcome {
  const e = receipt.error;
  const code = e && typeof e === 'object' && e.code != null ? String(e.code) : 'receipt_failed';
  const message = (e && typeof e === 'object' ? e.message : typeof e === 'string' ? e : undefined) ?? `receipt ${receipt.receipt_id} failed at Freedom Pay`;
  return rejected(code, message, response);
}

function clientErrorOf(answer: Extract<ProviderAnswer, { kind: 'http' }>): Outcome {
  const hint = answer.status === 401 || answer.status === 403 ? ' (check FREEDOMPAY_MERCHANT_ID and FREEDOMPAY_SECRET_KEY)' : '';
  const said = (answer.json as { error?: { message?: unknown } } | undefined)?.error?.message;
  return clientError(`http_${answer.status}`, `freedompay answered HTTP ${answer.status}${typeof said === 'string' ? `: ${said}` : ''}${hint}`, responseForRecord(answer));
}

/**
 * Create: once the request may have reached Freedom Pay without a clear answer (timeout, reset, 5xx, 429, a body that
 * is not the documented JSON) a receipt may exist, so the outcome is `ambiguous` and the next attempt looks it up
 * before creating (CONTRACT §4). Only a request that provably never left is plainly retryable.
 */
export function classifyReceiptCreate(answer: ProviderAnswer): Outcome {
  if (answer.kind !== 'http') {
    if (answer.kind === 'network' && !answer.requestSent) return retryable(answer.code, `${answer.message} (the receipt was not sent)`);
    return ambiguous(answer.code, `${answer.message}; the receipt may have been created`);
  }
  const response = responseForRecord(answer);
  if (answer.status === 429 || answer.status >= 500) return ambiguous(`http_${answer.status}`, `freedompay answered HTTP ${answer.status}; the receipt may have been created`, response);
  if (answer.status < 200 || answer.status >= 300) return clientErrorOf(answer);
  const body = OneReceipt.safeParse(answer.json);
  if (!body.success) return ambiguous('undocumented_body', 'freedompay answered a body that is not the documented receipt; it may have been created', response);
  if (body.data.data.status === 'failed') return failedReceipt(body.data.data, response);
  return success(maskPersonalData(body.data.data));
}

/** Read one: a GET is safe to repeat, so transport trouble is plainly retryable; `failed` ends the receipt. */
export function classifyReceiptRead(answer: ProviderAnswer): Outcome {
  const byTransport = readTransport(answer);
  if (byTransport) return byTransport;
  const response = responseForRecord(answer);
  const body = OneReceipt.safeParse((answer as { json: unknown }).json);
  if (!body.success) return retryable('undocumented_body', 'freedompay answered a body that is not the documented receipt', { providerResponse: response });
  const receipt = body.data.data;
  if (receipt.status === 'failed') return failedReceipt(receipt, response);
  if (receipt.status !== 'pending' && receipt.status !== 'registered') {
    return retryable('undocumented_status', `freedompay receipt status ${receipt.status} is not one of pending, registered, failed`, { providerResponse: response });
  }
  return success(maskPersonalData(receipt));
}

/** List: `data` is an array of receipt objects, newest first (seed 004). */
export function classifyReceiptList(answer: ProviderAnswer): Outcome {
  const byTransport = readTransport(answer);
  if (byTransport) return byTransport;
  const body = ReceiptList.safeParse((answer as { json: unknown }).json);
  if (!body.success) return retryable('undocumented_body', 'freedompay answered a list that is not the documented JSON', { providerResponse: responseForRecord(answer) });
  return success(maskPersonalData(body.data.data));
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
