import { describe, expect, it } from 'vitest';
import { alertOperands } from '../helpers/promql-operands.js';

describe('alertOperands (what an alert condition compares)', () => {
  it('drops a comparison against a number, bool included', () => {
    expect(alertOperands('fiscal_redis_up == 0')).toEqual(['fiscal_redis_up']);
    expect(alertOperands('up{job="fiscal-api"} == bool 0')).toEqual(['up{job="fiscal-api"}']);
  });

  it('keeps arithmetic, which binds tighter than a comparison, and unwraps outer parentheses only', () => {
    expect(alertOperands('(sum(rate(a[5m])) / sum(rate(b[5m]))) > 0.2')).toEqual(['sum(rate(a[5m])) / sum(rate(b[5m]))']);
    expect(alertOperands('(a) / (b) > 1')).toEqual(['(a) / (b)']);
  });

  it('splits at or / and / unless with their on() and ignoring() modifiers, nested groups too', () => {
    expect(alertOperands('(x > 0 unless on (provider) y > 0) or (x > 0 unless on () up{job="w"} == 1)')).toEqual([
      'x',
      'y',
      'x',
      'up{job="w"}',
    ]);
    expect(alertOperands('a > 0.2 and ignoring (le) b >= 10')).toEqual(['a', 'b']);
  });

  it('ignores operators inside label matchers and strings, and words that only contain "or"', () => {
    expect(alertOperands('fiscal_attempts_total{class=~"rejected|or>1"} > 0')).toEqual(['fiscal_attempts_total{class=~"rejected|or>1"}']);
    expect(alertOperands('error_ratio_for_orders > 0')).toEqual(['error_ratio_for_orders']);
  });

  it('keeps both sides of a comparison between two vectors', () => {
    expect(alertOperands('a > b')).toEqual(['a', 'b']);
  });
});
