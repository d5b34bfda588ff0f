import { isObject, nonEmptyString } from './json.js';

/**
 * Validation of Freedom Pay requests (seed 004). The seed does not say which create fields are required; the sandbox
 * requires what it needs to build the receipt object and answers HTTP 400 naming the first bad field.
 */

export interface CreateInput {
  payment_id: string | number;
  operation_type: string;
  receipt_format?: string;
  merchant_id?: string | number;
  customer?: { email?: string };
  company?: Record<string, unknown>;
  positions: Array<Record<string, unknown> & { name: string; price: number; quantity: number }>;
  settlements: Array<{ type: string; sum: number }>;
}

export interface ListQuery {
  paymentId: string | undefined;
  from: string | undefined; // YYYY-MM-DD, inclusive
  to: string | undefined; // YYYY-MM-DD, inclusive
  offset: number;
  limit: number;
}

export const DEFAULT_LIST_LIMIT = 100;

export function validateCreate(body: unknown): { ok: true; input: CreateInput } | { ok: false; message: string } {
  const bad = (message: string) => ({ ok: false as const, message });
  if (!isObject(body)) return bad('request body must be a JSON object');
  const pid = body['payment_id'];
  if (!((typeof pid === 'string' && pid.length > 0) || (typeof pid === 'number' && Number.isInteger(pid)))) {
    return bad('payment_id is required and must be a non-empty string or an integer');
  }
  if (!nonEmptyString(body['operation_type'])) return bad('operation_type is required and must be a string (e.g. "sell")');
  if (body['receipt_format'] !== undefined && !nonEmptyString(body['receipt_format'])) return bad('receipt_format must be a string');
  const merchant = body['merchant_id'];
  if (merchant !== undefined && typeof merchant !== 'string' && typeof merchant !== 'number') return bad('merchant_id must be a string or a number');
  const positions = body['positions'];
  if (!Array.isArray(positions) || positions.length === 0) return bad('positions is required and must be a non-empty array');
  for (const [i, p] of positions.entries()) {
    if (!isObject(p)) return bad(`positions[${i}] must be an object`);
    if (!nonEmptyString(p['name'])) return bad(`positions[${i}].name is required and must be a string`);
    if (!finite(p['price']) || p['price'] < 0) return bad(`positions[${i}].price is required and must be a number >= 0`);
    if (!finite(p['quantity']) || p['quantity'] <= 0) return bad(`positions[${i}].quantity is required and must be a number > 0`);
  }
  const settlements = body['settlements'];
  if (!Array.isArray(settlements) || settlements.length === 0) return bad('settlements is required and must be a non-empty array');
  for (const [i, s] of settlements.entries()) {
    if (!isObject(s)) return bad(`settlements[${i}] must be an object`);
    if (!nonEmptyString(s['type'])) return bad(`settlements[${i}].type is required and must be a string`);
    if (!finite(s['sum']) || s['sum'] < 0) return bad(`settlements[${i}].sum is required and must be a number >= 0`);
  }
  if (body['company'] !== undefined && !isObject(body['company'])) return bad('company must be an object');
  if (body['customer'] !== undefined && !isObject(body['customer'])) return bad('customer must be an object');
  return { ok: true, input: body as unknown as CreateInput };
}

/** `GET /v5/receipts?payment_id=&created_at[gte]=&created_at[lte]=&offset=&limit=` (seed 004). */
export function parseListQuery(search: string): { ok: true; query: ListQuery } | { ok: false; message: string } {
  const params = new URLSearchParams(search);
  const from = params.get('created_at[gte]') ?? undefined;
  const to = params.get('created_at[lte]') ?? undefined;
  for (const [name, value] of [['created_at[gte]', from], ['created_at[lte]', to]] as const) {
    if (value !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(value)) return { ok: false, message: `${name} must be a date YYYY-MM-DD` };
  }
  const offset = intParam(params.get('offset'), 0);
  if (offset === undefined || offset < 0) return { ok: false, message: 'offset must be an integer >= 0' };
  const limit = intParam(params.get('limit'), DEFAULT_LIST_LIMIT);
  if (limit === undefined || limit < 1) return { ok: false, message: 'limit must be an integer >= 1' };
  return { ok: true, query: { paymentId: params.get('payment_id') ?? undefined, from, to, offset, limit } };
}

function intParam(value: string | null, fallback: number): number | undefined {
  if (value === null || value === '') return fallback;
  return /^\d+$/.test(value) ? Number(value) : undefined;
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
