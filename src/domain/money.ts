/**
 * Money and quantities as exact integers (issue 7): Freedom Pay (seed 004) sends sums as JSON numbers with decimals
 * (`"price": 50.00`), and 0.1 + 0.2 !== 0.3 in floating point. A value is read from its shortest decimal form
 * (`String(0.1)` is "0.1", exactly what the client wrote for any value with up to 15 significant digits) and scaled to
 * an integer, so totals are added and compared without drift.
 */

/** Sums have two decimals (kopecks/tiyins). */
export const MONEY_DECIMALS = 2;
/** Quantities have up to three (FFD 1.05: quantity to 0.001, e.g. 0.375 kg). */
export const QUANTITY_DECIMALS = 3;
/** Above this a value is refused rather than risk leaving the range where integers are exact. */
export const MAX_DECIMAL_VALUE = 1e12;

/**
 * `value × 10^decimals` as an integer, or undefined when the value is negative, not finite, too large, or has more
 * decimals than allowed (1.005 as money). Never rounds: a value that does not fit is the caller's 400.
 */
export function toScaled(value: number, decimals: number): number | undefined {
  if (!Number.isFinite(value) || value < 0 || value > MAX_DECIMAL_VALUE) return undefined;
  const match = /^(\d+)(?:\.(\d+))?$/.exec(String(value));
  // No match: exponent notation, which String() uses only below 1e-6 (too many decimals) or above 1e21.
  if (!match) return undefined;
  const fraction = match[2] ?? '';
  if (fraction.length > decimals) return undefined;
  return Number(match[1]) * 10 ** decimals + Number(fraction.padEnd(decimals, '0') || '0');
}

export const toMinorUnits = (value: number): number | undefined => toScaled(value, MONEY_DECIMALS);

/** A provider's sum, which may carry float noise (200.00000000000003): rounded to the nearest minor unit. */
export function roundToMinorUnits(value: number): number {
  return Math.round(value * 10 ** MONEY_DECIMALS);
}

/**
 * One position's sum in minor units: price (minor units) × quantity (thousandths), rounded half up to a minor unit as
 * a cash register does. BigInt, because price × quantity may leave the exact integer range of a double.
 */
export function positionSum(priceMinor: number, quantityScaled: number): number {
  const scale = BigInt(10 ** QUANTITY_DECIMALS);
  const product = BigInt(priceMinor) * BigInt(quantityScaled);
  return Number((product * 2n + scale) / (2n * scale));
}

/** 20050 → "200.50": minor units as the decimal a person reads (and the seeds write). */
export function formatMinorUnits(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}
