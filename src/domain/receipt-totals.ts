import type { ReceiptPosition, ReceiptRequest } from './jobs.js';
import { QUANTITY_DECIMALS, formatMinorUnits, positionSum, roundToMinorUnits, toMinorUnits, toScaled } from './money.js';

/** Totals in minor units (tiyins): the sum of price × quantity and the sum of settlements. */
export function receiptTotals(body: Pick<ReceiptRequest, 'positions' | 'settlements'>): {
  positions: number;
  settlements: number;
  positionSumMismatches: { index: number; expected: number }[];
} {
  let positions = 0;
  const positionSumMismatches: { index: number; expected: number }[] = [];
  body.positions.forEach((p, index) => {
    const sum = positionSum(toMinorUnits(p.price) ?? 0, toScaled(p.quantity, QUANTITY_DECIMALS) ?? 0);
    if (p.sum !== undefined && toMinorUnits(p.sum) !== sum) positionSumMismatches.push({ index, expected: sum });
    positions += sum;
  });
  const settlements = body.settlements.reduce((total, s) => total + (toMinorUnits(s.sum) ?? 0), 0);
  return { positions, settlements, positionSumMismatches };
}

/** One side of a receipt comparison: the total and each position, in minor units and thousandths. */
export interface ReceiptSide {
  total: string;
  positions: string[];
}

/**
 * How a receipt found at the provider differs from the sale it is meant for (issue 15: a receipt adopted after a lost
 * answer is checked, not trusted): its total (the settlements', as the seed's `total` says) and its positions (name,
 * price, quantity; in any order). Undefined when they match. A receipt whose positions or total are unreadable does
 * not match: it cannot be shown to be this sale's.
 */
export function receiptDifference(request: Pick<ReceiptRequest, 'positions' | 'settlements'>, receipt: Record<string, unknown>): { request: ReceiptSide; provider: ReceiptSide } | undefined {
  const mine: ReceiptSide = { total: formatMinorUnits(receiptTotals(request).settlements), positions: request.positions.map(describePosition).sort() };
  const theirs: ReceiptSide = {
    total: typeof receipt.total === 'number' ? formatMinorUnits(roundToMinorUnits(receipt.total)) : 'unreadable',
    positions: Array.isArray(receipt.positions) ? receipt.positions.map((p) => describePosition(p as ReceiptPosition)).sort() : ['unreadable'],
  };
  const same = mine.total === theirs.total && mine.positions.length === theirs.positions.length && mine.positions.every((p, i) => p === theirs.positions[i]);
  return same ? undefined : { request: mine, provider: theirs };
}

function describePosition(position: Partial<ReceiptPosition> | null | undefined): string {
  const price = typeof position?.price === 'number' ? toMinorUnits(position.price) : undefined;
  const quantity = typeof position?.quantity === 'number' ? toScaled(position.quantity, QUANTITY_DECIMALS) : undefined;
  const name = typeof position?.name === 'string' ? position.name : '?';
  return `${name} × ${quantity === undefined ? '?' : quantity / 10 ** QUANTITY_DECIMALS} at ${price === undefined ? '?' : formatMinorUnits(price)}`;
}
