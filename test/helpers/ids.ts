import { randomInt, randomUUID } from 'node:crypto';

/** Fresh values so tests sharing one Redis never meet each other's records. */
export const uid = (): string => randomUUID().slice(0, 8);
/** A customer's Payme code: digits only, so sandbox faults come from program(code, …) (docs/SANDBOX.md). */
export const newCode = (): string => `5050${String(randomInt(1e9)).padStart(9, '0')}${String(randomInt(1e7)).padStart(7, '0')}`;
/** An Idempotency-Key, one per charge. */
export const newKey = (): string => `order-${randomUUID()}`;
