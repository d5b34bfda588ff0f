import { z } from 'zod';
import { retryable, type Outcome } from '../domain/outcome.js';
import { classifyTransport, responseForRecord, type ProviderAnswer } from './transport.js';

/**
 * The envelope every FiscalBox endpoint answers with (seeds 000–003). `error` is documented both as an object
 * `{code, message, data}` and as `string | null`; both are accepted.
 */
export const FiscalBoxError = z.union([
  z.object({ code: z.union([z.number(), z.string()]), message: z.string().nullish(), data: z.unknown().optional() }).loose(),
  z.string(),
  z.null(),
]);

export function fiscalBoxEnvelope<T extends z.ZodType>(data: T) {
  return z.object({ data: data.nullish(), error: FiscalBoxError.optional(), is_success: z.boolean() }).loose();
}

export type FiscalBoxBody<T> = { data?: T | null | undefined; error?: z.infer<typeof FiscalBoxError> | undefined; is_success: boolean };

/**
 * Transport rules, then the envelope: a 2xx whose body is not the documented JSON is retryable (CONTRACT §4).
 * Returns the parsed body for the provider's own reading, or the outcome already decided.
 */
export function readFiscalBox<D>(
  answer: ProviderAnswer,
  envelope: z.ZodType<FiscalBoxBody<D>>,
  providerName: string,
): { outcome: Outcome } | { body: FiscalBoxBody<D> } {
  const byTransport = classifyTransport(answer, providerName);
  if (byTransport) return { outcome: byTransport };
  if (answer.kind !== 'http') throw new Error('unreachable: transport failures are classified above');
  const parsed = envelope.safeParse(answer.json);
  if (!parsed.success) {
    return { outcome: retryable('undocumented_body', `${providerName} answered a body that is not the documented JSON`, { providerResponse: responseForRecord(answer) }) };
  }
  return { body: parsed.data };
}

/** `is_success: false`: the error object carries the provider's code and message. */
export function envelopeError(error: z.infer<typeof FiscalBoxError> | undefined): { code: string; message: string } {
  if (error && typeof error === 'object') return { code: String(error.code), message: error.message ?? 'rejected without a message' };
  if (typeof error === 'string') return { code: 'provider_error', message: error };
  return { code: 'provider_error', message: 'is_success is false without an error' };
}
