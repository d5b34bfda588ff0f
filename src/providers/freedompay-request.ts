import { z } from 'zod';
import { QUANTITY_DECIMALS, formatMinorUnits, toMinorUnits, toScaled } from '../domain/money.js';
import { receiptTotals } from '../domain/receipt-totals.js';

/**
 * CONTRACT §3 `POST /v1/receipts/freedompay`: seed 004's create request without `merchant_id`. The objects the seed
 * shows with their fields (the request itself, positions, settlements, customer, company) are strict; the nested
 * objects it only names (mark_quantity, mark_code_type, supplier, *_industry_details, additional_user_props,
 * receipt_operating_details) get their FFD fields typed and pass other fields through to the provider.
 */

// Seed 004 codes are lower_snake words: "sell", "ru_1_05", "vat_20", "full_payment", "goods", "cashless", "osn".
const code = (field: string) =>
  z.string({ error: `${field} must be a string` }).regex(/^[a-z][a-z0-9_]{0,63}$/, `${field} must be a lower_snake code like the seed's (e.g. "sell", "vat_20")`);

const text = (field: string, max: number) => z.string({ error: `${field} must be a string` }).min(1, `${field} must not be empty`).max(max, `${field} must be at most ${max} characters`);

const money = (field: string) =>
  z
    .number({ error: `${field} must be a number (sums)` })
    .refine((v) => toMinorUnits(v) !== undefined, `${field} must be a sum >= 0 with at most 2 decimals`);

const quantity = z
  .number({ error: 'quantity must be a number' })
  .positive('quantity must be greater than 0')
  .refine((v) => toScaled(v, QUANTITY_DECIMALS) !== undefined, `quantity must have at most ${QUANTITY_DECIMALS} decimals`);

/** A string of at most `max` characters, named in its error (issue 19: every string and array of a request is capped). */
const capped = (field: string, max: number) => z.string({ error: `${field} must be a string` }).max(max, `${field} must be at most ${max} characters`);

/**
 * A field the seed only names, passed through to the provider as given: a scalar, and a short string. Nested objects
 * and arrays there would be accepted without a bound, so they are refused (issue 19).
 */
const passThrough = z.union([z.string().max(1024, 'must be at most 1024 characters'), z.number(), z.boolean(), z.null()], {
  error: 'must be a string, a number, a boolean or null (the product passes these fields through as given)',
});

// FFD tags 1260/1261: industry requisites.
const industryDetails = z
  .array(
    z
      .object({ federal_id: capped('federal_id', 64).optional(), date: capped('date', 32).optional(), number: capped('number', 64).optional(), value: capped('value', 256).optional() })
      .catchall(passThrough),
  )
  .max(20, 'at most 20 industry requisites');

const position = z.strictObject({
  name: text('name', 128),
  price: money('price'),
  quantity,
  /** Not in the seed's request; when sent it must be price × quantity. */
  sum: money('sum').optional(),
  measure: text('measure', 32).optional(),
  vat_code: code('vat_code').optional(),
  payment_method: code('payment_method').optional(),
  payment_object: code('payment_object').optional(),
  excise: money('excise').optional(),
  country_code: z.string().regex(/^\d{3}$/, 'country_code must be 3 digits (OKSM)').optional(),
  declaration_number: text('declaration_number', 32).optional(),
  user_data: text('user_data', 64).optional(),
  // FFD tag 1291: fractional quantity of a marked good.
  mark_quantity: z.object({ numerator: z.number().int().positive().optional(), denominator: z.number().int().positive().optional() }).catchall(passThrough).optional(),
  payment_object_industry_details: industryDetails.optional(),
  // FFD tag 1163: the marking code, one string per code type.
  mark_code_type: z
    .record(capped('mark_code_type key', 32), capped('mark_code_type', 512))
    .refine((codes) => Object.keys(codes).length <= 10, 'mark_code_type holds at most 10 code types')
    .optional(),
  // FFD tag 1224.
  supplier: z
    .object({ name: capped('supplier.name', 256).optional(), inn: capped('supplier.inn', 12).optional(), phones: z.array(capped('supplier.phones[]', 20)).max(5, 'at most 5 supplier phones').optional() })
    .catchall(passThrough)
    .optional(),
});

const settlement = z.strictObject({ type: code('type'), sum: money('sum') });

const paymentId = z.union(
  [
    z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'payment_id must be printable ASCII without spaces'),
    z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  ],
  { error: 'payment_id is required: a string or a positive integer (sent to Freedom Pay as given)' },
);

export const receiptSchema = z
  .strictObject({
    payment_id: paymentId,
    operation_type: code('operation_type'),
    receipt_format: code('receipt_format').optional(),
    merchant_id: z.never({ error: 'merchant_id comes from FREEDOMPAY_MERCHANT_ID; leave it out' }).optional(),
    customer: z
      .strictObject({ email: z.email('customer.email must be an email address').max(254, 'customer.email is too long').optional(), phone: z.string().regex(/^\+?\d{5,20}$/, 'customer.phone must be digits').optional() })
      .optional(),
    company: z
      .strictObject({
        inn: z.string().regex(/^\d{9,12}$/, 'company.inn must be 9 to 12 digits').optional(),
        email: z.email('company.email must be an email address').max(254, 'company.email is too long').optional(),
        tax_system: code('tax_system').optional(),
        payment_address: text('payment_address', 256).optional(),
      })
      .optional(),
    positions: z.array(position, { error: 'positions must be an array' }).min(1, 'positions must not be empty').max(1000, 'at most 1000 positions'),
    settlements: z.array(settlement, { error: 'settlements must be an array' }).min(1, 'settlements must not be empty').max(100, 'at most 100 settlements'),
    additional_user_props: z.object({ name: capped('additional_user_props.name', 64).optional(), value: capped('additional_user_props.value', 256).optional() }).catchall(passThrough).optional(),
    receipt_industry_details: industryDetails.optional(),
    receipt_operating_details: z
      .object({ operation_id: z.number().int().optional(), value: capped('receipt_operating_details.value', 64).optional(), date_time: capped('receipt_operating_details.date_time', 32).optional() })
      .catchall(passThrough)
      .optional(),
  })
  .superRefine((body, ctx) => {
    const totals = receiptTotals(body);
    if (!Number.isSafeInteger(totals.positions) || !Number.isSafeInteger(totals.settlements)) {
      ctx.addIssue({ code: 'custom', path: ['positions'], message: 'the receipt total is too large to be a real sale' });
      return;
    }
    totals.positionSumMismatches.forEach(({ index, expected }) => {
      ctx.addIssue({ code: 'custom', path: ['positions', index, 'sum'], message: `positions[${index}].sum must be price × quantity = ${formatMinorUnits(expected)}` });
    });
    if (totals.positions !== totals.settlements) {
      ctx.addIssue({
        code: 'custom',
        path: ['settlements'],
        message: `positions add up to ${formatMinorUnits(totals.positions)} (price × quantity) but settlements to ${formatMinorUnits(totals.settlements)}; they must be equal`,
      });
    }
  });

export type ReceiptInput = z.infer<typeof receiptSchema>;
