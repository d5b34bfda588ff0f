/**
 * Every provider the product serves: the queue names, the `provider` label of every metric (CONTRACT §6) and the
 * first part of every record id. What each one is and does (endpoint, request, classification, processor) is its
 * row in the provider registry, src/providers/index.ts, which is keyed by this list.
 */
export const PROVIDERS = ['payme', 'uzum', 'anor', 'click', 'payme_go', 'freedompay'] as const;

export type Provider = (typeof PROVIDERS)[number];

const NAMES: ReadonlySet<string> = new Set(PROVIDERS);

export function isProvider(name: string): name is Provider {
  return NAMES.has(name);
}

/**
 * What a provider's records are (CONTRACT §3): a confirmation attaches a fiscal receipt to a payment (seeds 000–002,
 * Click), a payment charges a customer (seed 003), a receipt is registered at a fiscal data operator (seed 004).
 */
export type ProviderKind = 'confirmation' | 'payment' | 'receipt';
