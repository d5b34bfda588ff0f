import { z } from 'zod';
import type { Config } from '../config/env.js';
import { callbackUrlRule } from '../callbacks/policy.js';
import { fiscalQrCode } from '../domain/qr.js';

/** Provider ids come from outside; printable, bounded, so they are safe in ids, logs and Redis keys. */
const externalId = (field: string) =>
  z
    .string({ error: `${field} is required and must be a string` })
    .min(1, `${field} must not be empty`)
    .max(128, `${field} must be at most 128 characters`)
    .regex(/^[\x21-\x7e]+$/, `${field} must be printable ASCII without spaces`);

const reference = z.string().min(1, 'reference must not be empty').max(200, 'reference must be at most 200 characters').optional();

/** CONTRACT §3 `POST /v1/confirmations`: the body of one confirmation, by provider. */
export function confirmationSchema(config: Readonly<Config>) {
  const qr_code = fiscalQrCode(config.qrAllowedHosts);
  const common = { qr_code, reference, callback_url: callbackUrlRule(config) };
  return z.discriminatedUnion(
    'provider',
    [
      z.strictObject({ provider: z.literal('payme'), payment_id: externalId('payment_id'), ...common }),
      z.strictObject({ provider: z.literal('uzum'), payment_id: externalId('payment_id'), ...common }),
      z.strictObject({ provider: z.literal('anor'), transaction_id: externalId('transaction_id'), ...common }),
    ],
    { error: 'provider must be one of payme, uzum, anor' },
  );
}

export type ConfirmationInput = z.infer<ReturnType<typeof confirmationSchema>>;

/** What a confirmation job carries: the request fields and the sales system's own keys; never a secret. */
export type ConfirmationJobData = ConfirmationInput;

export function externalIdOf(input: ConfirmationInput): string {
  return input.provider === 'anor' ? input.transaction_id : input.payment_id;
}

/** One zod failure as the API's `details`: which field, what was wrong. */
export interface FieldProblem {
  field: string;
  message: string;
}

export function fieldProblems(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => {
    const field = issue.path.join('.') || '(body)';
    if (issue.code === 'unrecognized_keys') return { field, message: `unknown field(s): ${issue.keys.join(', ')}` };
    return { field, message: issue.message };
  });
}

export function describeProblems(problems: readonly FieldProblem[]): string {
  return problems.map((p) => (p.message.startsWith(p.field) ? p.message : `${p.field}: ${p.message}`)).join('; ');
}
