/** CONTRACT §4: every provider call ends in exactly one of these classes. */
export type Outcome =
  | { class: 'success'; data: unknown }
  | { class: 'retryable'; code: string; message: string; retryAfterMs?: number; providerResponse?: unknown }
  | { class: 'rejected' | 'client_error' | 'ambiguous'; code: string; message: string; providerResponse?: unknown; details?: unknown };

/** Also the `class` label of `fiscal_attempts_total`. */
export type OutcomeClass = Outcome['class'];
export const OUTCOME_CLASSES: readonly OutcomeClass[] = ['success', 'rejected', 'retryable', 'client_error', 'ambiguous'];

export type FailureOutcome = Exclude<Outcome, { class: 'success' }>;

export const success = (data: unknown): Outcome => ({ class: 'success', data });

export const retryable = (code: string, message: string, extra: { retryAfterMs?: number; providerResponse?: unknown } = {}): Outcome => ({
  class: 'retryable',
  code,
  message,
  ...extra,
});

/** `details`: what the provider said about each field, when it says it in a structured way (a code 7 message). */
export const rejected = (code: string, message: string, providerResponse?: unknown, details?: unknown): Outcome => ({
  class: 'rejected',
  code,
  message,
  providerResponse,
  ...(details === undefined ? {} : { details }),
});

export const clientError = (code: string, message: string, providerResponse?: unknown): Outcome => ({
  class: 'client_error',
  code,
  message,
  providerResponse,
});

export const ambiguous = (code: string, message: string, providerResponse?: unknown): Outcome => ({
  class: 'ambiguous',
  code,
  message,
  providerResponse,
});
