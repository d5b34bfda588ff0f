import type { ReceiptRequest } from './jobs.js';
import { QUANTITY_DECIMALS, positionSum, toMinorUnits, toScaled } from './money.js';

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
