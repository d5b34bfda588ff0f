import { z } from 'zod';
import { callbackUrlRule } from '../callbacks/policy.js';
import type { Config } from '../config/env.js';
import type { ConfirmationRequest } from '../domain/jobs.js';
import { CONFIRMATION_SPECS, REGISTRY } from '../providers/index.js';

const reference = z.string().min(1, 'reference must not be empty').max(200, 'reference must be at most 200 characters').optional();

/**
 * CONTRACT §3 `POST /v1/confirmations`: the body of one confirmation, by provider. Each provider's own fields come
 * from its registry row (`{<idField>, qr_code}`); the sales system's keys are common to all.
 */
export function confirmationSchema(config: Readonly<Config>) {
  const common = { reference, callback_url: callbackUrlRule(config) };
  const [first, ...rest] = CONFIRMATION_SPECS.map((spec) => spec.request(config).extend({ provider: z.literal(spec.name), ...common }).strict());
  const names = CONFIRMATION_SPECS.map((spec) => spec.name).join(', ');
  return z.discriminatedUnion('provider', [first!, ...rest], { error: `provider must be one of ${names}` }) as unknown as z.ZodType<ConfirmationRequest>;
}

/** The payment's id as the provider names it (Anor: `transaction_id`). */
export function externalIdOf(input: ConfirmationRequest): string {
  const spec = REGISTRY[input.provider];
  const field = spec.kind === 'confirmation' ? spec.idField : 'payment_id';
  return String(input[field]);
}
