/**
 * The data-carrying operands of an alert condition: an alert expression is a filter (empty = not firing), so to ask
 * "does this alert see data?" we evaluate what it compares instead. Splits at top-level `or` / `and` / `unless`
 * (with their `on (…)` / `ignoring (…)`), unwraps outer parentheses, and drops a top-level comparison against a number
 * (`> 0`, `== 1`, `>= 10`, `bool` allowed), which binds weaker than arithmetic: `(a / b) > 0.2` → `a / b`.
 * Enough for PromQL as written in deploy/prometheus/alerts.yml; not a PromQL parser.
 */
export function alertOperands(expr: string): string[] {
  const text = unwrap(expr.trim());
  const parts = splitTopLevelSetOperators(text);
  if (parts.length > 1) return parts.flatMap(alertOperands);
  const comparison = topLevelComparison(text);
  if (comparison) {
    const left = text.slice(0, comparison.at).trim();
    const right = text.slice(comparison.at + comparison.op.length).trim().replace(/^bool\b\s*/, '');
    return NUMBER.test(right) ? alertOperands(left) : [...alertOperands(left), ...alertOperands(right)];
  }
  return [text];
}

const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;
const OPEN = '({[';
const CLOSE = ')}]';

/** Calls `visit(i)` for every index at nesting depth 0, outside string literals. */
function eachTopLevel(text: string, visit: (i: number) => number | void): void {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (OPEN.includes(c)) depth++;
    else if (CLOSE.includes(c)) depth--;
    else if (depth === 0) {
      const skipTo = visit(i);
      if (typeof skipTo === 'number') i = skipTo - 1;
    }
  }
}

function unwrap(text: string): string {
  if (!text.startsWith('(') || !text.endsWith(')')) return text;
  // The first parenthesis must close at the very end, else `(a) / (b)` would lose its meaning.
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    if (depth === 0 && i < text.length - 1) return text;
  }
  return unwrap(text.slice(1, -1).trim());
}

function splitTopLevelSetOperators(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  eachTopLevel(text, (i) => {
    if (!/[a-z]/i.test(text[i]!) || (i > 0 && /[\w:]/.test(text[i - 1]!))) return;
    const word = /^[a-zA-Z_:][\w:]*/.exec(text.slice(i))?.[0] ?? '';
    if (word !== 'or' && word !== 'and' && word !== 'unless') return i + word.length;
    parts.push(text.slice(start, i));
    const modifier = /^\s*(?:on|ignoring)\s*\([^)]*\)/.exec(text.slice(i + word.length))?.[0] ?? '';
    start = i + word.length + modifier.length;
    return start;
  });
  parts.push(text.slice(start));
  return parts.map((part) => part.trim()).filter(Boolean);
}

function topLevelComparison(text: string): { at: number; op: string } | undefined {
  let found: { at: number; op: string } | undefined;
  eachTopLevel(text, (i) => {
    if (found) return text.length;
    const op = /^(==|!=|>=|<=|>|<)/.exec(text.slice(i))?.[0];
    if (op) found = { at: i, op };
    return undefined;
  });
  return found;
}
