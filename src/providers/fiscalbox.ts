import { z } from 'zod';
import { isRecord } from '../domain/json.js';
import { ambiguous, clientError, rejected, retryable, success, type Outcome } from '../domain/outcome.js';
import { maskPersonalDataIn } from '../domain/personal-data.js';
import { classifyTransport, responseForRecord, type ProviderAnswer } from './transport.js';

/**
 * How a FiscalBox answer (seeds 000–003, Click) is classified (CONTRACT §4). The class is read from the fields that
 * decide it and nothing else: `is_success` first, then the provider's own success fields in `data`, listed per provider
 * in a small table. Every other field may be null, missing or of any type (FiscalBox answers live with nulls the seeds
 * do not show: ../shared/fiscalbox-live.md) and is kept in the result exactly as it came, personal data masked.
 */

/** One field of `data` that decides the class once `is_success` is true, named as in the seed. */
export interface DecisiveField {
  field: string;
  /** Values that mean success; `null` also stands for a missing field. */
  success: readonly (string | number | null)[];
  /** Values the provider documents as a failure; only needed where other values are not a plain "no". */
  failure?: readonly (string | number)[];
  /** What a value that is neither a success nor a documented failure means (default: rejected). */
  otherwise?: 'rejected' | 'ambiguous';
  /** The refusal's code; `<field>_<value>` by default (`payment_status_failed`), the value itself for an error code. */
  code?: (value: unknown) => string;
}

export interface FiscalBoxTable {
  provider: string;
  /** Every field must say success; the first one that does not decides the refusal. */
  decisive: readonly DecisiveField[];
  /** The field of `data` holding the provider's words about a refusal. */
  messageField: string;
  /**
   * A charge (seed 003) moves money, so it is classified for at most once: transport trouble after the request may
   * have left, an HTTP 5xx/429 and a body that is not the documented JSON are `ambiguous`, never plainly retryable.
   */
  atMostOnce?: boolean;
}

/** CONTRACT §4: a body is "the documented JSON" when it is an object with a boolean `is_success`; nothing else is required. */
const Envelope = z.object({ is_success: z.boolean(), data: z.unknown().optional(), error: z.unknown().optional() }).loose();

export function classifyFiscalBox(table: FiscalBoxTable, answer: ProviderAnswer): Outcome {
  const byTransport = table.atMostOnce ? chargeTransport(answer, table.provider) : classifyTransport(answer, table.provider);
  if (byTransport) return byTransport;
  if (answer.kind !== 'http') throw new Error('unreachable: transport failures are classified above');
  // The answer as a record keeps it, made only for a refusal: a success keeps its `data` instead.
  const response = () => responseForRecord(answer);
  const envelope = Envelope.safeParse(answer.json);
  if (!envelope.success) {
    const message = `${table.provider} answered a body that is not the documented JSON (an object with a boolean is_success)`;
    return table.atMostOnce
      ? ambiguous('undocumented_body', `${message}; the charge may have been made`, response())
      : retryable('undocumented_body', message, { providerResponse: response() });
  }
  const { is_success, data, error } = envelope.data;
  if (!is_success) {
    const refusal = envelopeError(error);
    return rejected(refusal.code, refusal.message, response(), refusal.details);
  }
  const fields = isRecord(data) ? data : {};
  for (const rule of table.decisive) {
    const value = fields[rule.field] ?? null;
    if (rule.success.includes(value as string | number | null)) continue;
    const code = rule.code ? rule.code(value) : `${rule.field}_${codePart(value)}`;
    const said = fields[table.messageField];
    const message = typeof said === 'string' && said ? said : `${table.provider} answered is_success with ${rule.field} ${JSON.stringify(value)}`;
    const documentedFailure = rule.failure?.includes(value as string | number) ?? false;
    if (rule.otherwise === 'ambiguous' && !documentedFailure) {
      return ambiguous(code, `${message}; ${rule.field} is neither a known success nor a known failure: check with the provider before replaying`, response());
    }
    return rejected(code, message, response());
  }
  return success(maskPersonalDataIn(answer.text, data ?? null));
}

/**
 * `is_success: false`: the error object carries the provider's code and message, each of which may be null. A message
 * that is itself JSON (validation, code 7: `{"payment_id": ["This field may not be blank."]}`) becomes `details`, and a
 * message a person can read.
 */
export function envelopeError(error: unknown): { code: string; message: string; details?: unknown } {
  if (typeof error === 'string' && error) return { code: 'provider_error', message: error };
  if (!isRecord(error)) return { code: 'provider_error', message: 'is_success is false without an error' };
  const code = typeof error.code === 'number' || (typeof error.code === 'string' && error.code) ? String(error.code) : 'provider_error';
  const said = typeof error.message === 'string' && error.message ? error.message : undefined;
  const details = said ? jsonMessage(said) : undefined;
  if (details !== undefined) return { code, message: describeDetails(details), details };
  return { code, message: said ?? 'rejected without a message' };
}

/** The at-most-once half of the transport rules: only a request that provably never left may be sent again. */
function chargeTransport(answer: ProviderAnswer, provider: string): Outcome | undefined {
  if (answer.kind !== 'http') {
    if (answer.kind === 'network' && !answer.requestSent) return retryable(answer.code, `${answer.message} (the charge was not sent)`);
    return ambiguous(answer.code, `${answer.message}; the charge may have reached ${provider}: check it before replaying`);
  }
  const { status } = answer;
  if (status >= 200 && status < 300) return undefined;
  const response = responseForRecord(answer);
  if (status === 429 || status >= 500) {
    return ambiguous(`http_${status}`, `${provider} answered HTTP ${status}; the charge may have been made: check it before replaying`, response);
  }
  return clientError(`http_${status}`, `${provider} answered HTTP ${status} (check FISCALBOX_BASE_URL and FISCALBOX_TOKEN)`, response);
}

function jsonMessage(message: string): unknown {
  const trimmed = message.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined;
  }
}

/** `{"payment_id": ["This field may not be blank."]}` → `payment_id: This field may not be blank.` */
function describeDetails(details: unknown): string {
  if (!isRecord(details)) return JSON.stringify(details);
  const parts = Object.entries(details).map(([field, problems]) => `${field}: ${Array.isArray(problems) ? problems.map(String).join(' ') : String(problems)}`);
  return parts.join('; ') || 'rejected: validation failed';
}

function codePart(value: unknown): string {
  if (value === null) return 'missing';
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40) || 'empty';
}
