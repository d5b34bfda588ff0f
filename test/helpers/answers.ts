import type { ProviderAnswer } from '../../src/providers/transport.js';

/** A provider's HTTP answer as the transport hands it to a classifier: the text, and its JSON when it parses. */
export function httpAnswer(status: number, body: unknown, headers: Record<string, string> = {}): ProviderAnswer {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { kind: 'http', status, headers, text, json, latencyMs: 5 };
}
