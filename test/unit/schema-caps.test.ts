import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { loadConfig } from '../../src/config/env.js';
import { confirmationSchema } from '../../src/producers/schemas.js';
import { CONFIRMATION_SPECS, onlySpecOfKind } from '../../src/providers/index.js';
import { FREEDOMPAY_CREATE_REQUEST, PAYME_GO_REQUEST } from '../fixtures/seed-bodies-003-004.js';

/**
 * Issue 19: every string and every array a request schema accepts is capped. Starting from a valid body that uses
 * every field, each string is made 100,000 characters long and each array 100,000 items long, one at a time: the
 * schema must refuse it, with the problem at that field's path (so the error names it).
 */

const config = loadConfig({ CALLBACK_SECRET: 'caps-secret', CALLBACK_ALLOWED_HOSTS: 'hooks.example.com' });
const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';
const HUGE = 100_000;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** Every string and array in `value`, with its path. */
function* leaves(value: Json, path: Path = []): Generator<{ path: Path; value: string | Json[] }> {
  if (typeof value === 'string') yield { path, value };
  else if (Array.isArray(value)) {
    yield { path, value };
    for (const [i, item] of value.entries()) yield* leaves(item, [...path, i]);
  } else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) yield* leaves(item, [...path, key]);
}

function replaced(body: Json, path: Path, next: Json): Json {
  const copy = structuredClone(body) as Record<string | number, Json>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, Json>;
  at[path.at(-1)!] = next;
  return copy;
}

function checkCaps(schema: z.ZodType, body: Json, skip: (path: Path) => boolean = () => false): string[] {
  const example = schema.safeParse(body);
  expect(example.success ? [] : example.error.issues, 'the example itself is valid').toEqual([]);
  const unbounded: string[] = [];
  let checked = 0;
  for (const leaf of leaves(body)) {
    if (leaf.path.length === 0 || skip(leaf.path)) continue;
    const next = typeof leaf.value === 'string' ? 'x'.repeat(HUGE) : Array.from({ length: HUGE }, () => (leaf.value as Json[])[0] ?? null);
    const parsed = schema.safeParse(replaced(body, leaf.path, next));
    const named = !parsed.success && parsed.error.issues.some((issue) => issue.path.join('.').startsWith(leaf.path.join('.')));
    if (!named) unbounded.push(leaf.path.join('.'));
    checked += 1;
  }
  expect(checked).toBeGreaterThan(0);
  return unbounded;
}

describe('every string and array of a request is capped, and the error names the field', () => {
  for (const spec of CONFIRMATION_SPECS) {
    it(`POST /v1/confirmations (${spec.name})`, () => {
      const body = { provider: spec.name, [spec.idField]: 'pay-1', qr_code: QR, reference: 'order-1', callback_url: 'https://hooks.example.com/cb' };
      // `provider` picks the schema: a long one is refused as an unknown provider, at the same path.
      expect(checkCaps(confirmationSchema(config), body)).toEqual([]);
    });
  }

  it('POST /v1/payments/payme', () => {
    const body = { ...PAYME_GO_REQUEST, fiscal_qr_code: QR };
    expect(checkCaps(onlySpecOfKind('payment').request(config), body)).toEqual([]);
  });

  it('POST /v1/receipts/freedompay, every field of seed 004 used', () => {
    const { merchant_id: _fromConfig, ...seed } = FREEDOMPAY_CREATE_REQUEST;
    const industry = [{ federal_id: '001', date: '2024-01-01', number: 'N1', value: 'v', extra: 'pass-through' }];
    const body = {
      ...seed,
      payment_id: 'sale-1',
      customer: { email: 'customer@mail.ru', phone: '998901234567' },
      company: { inn: '123456789', email: 'shop@mail.ru', tax_system: 'osn', payment_address: 'Tashkent' },
      positions: [
        {
          ...seed.positions[0]!,
          measure: 'piece',
          excise: 1,
          country_code: '860',
          declaration_number: 'D-1',
          user_data: 'u',
          mark_quantity: { numerator: 1, denominator: 2, note: 'pass-through' },
          payment_object_industry_details: industry,
          mark_code_type: { ean13: '4600000000000' },
          supplier: { name: 'Supplier', inn: '123456789', phones: ['998901234567'], note: 'pass-through' },
        },
        seed.positions[1]!,
      ],
      additional_user_props: { name: 'n', value: 'v', note: 'pass-through' },
      receipt_industry_details: industry,
      receipt_operating_details: { operation_id: 1, value: 'v', date_time: '2024-01-01 00:00', note: 'pass-through' },
    };
    expect(checkCaps(onlySpecOfKind('receipt').request(config), body as unknown as Json)).toEqual([]);
  });
});
