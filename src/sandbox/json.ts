/** JSON reading helpers shared by the endpoint modules. */

export const NOT_JSON: unique symbol = Symbol('not json');

export function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return NOT_JSON;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return NOT_JSON;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
