/**
 * A small reader of the Prometheus text exposition format (what `/metrics` serves), enough to assert exact counter
 * deltas: one sample per line, `name{label="value",…} value [timestamp]`, with `\\`, `\"` and `\n` escapes in label
 * values. `# HELP` / `# TYPE` lines are skipped.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const [, name = '', labelText = '', valueText = ''] = match;
    const labels: Record<string, string> = {};
    let at = 0;
    while (at < labelText.length) {
      LABEL.lastIndex = at;
      const m = LABEL.exec(labelText);
      if (!m) throw new Error(`bad labels in: ${line}`);
      labels[m[1] ?? ''] = (m[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = LABEL.lastIndex;
    }
    samples.push({ name, labels, value: parseValue(valueText) });
  }
  return samples;
}

function parseValue(text: string): number {
  // Prometheus reads these case-insensitively; prom-client writes `Nan` for a gauge that was never set.
  const special = text.toLowerCase();
  if (special === '+inf' || special === 'inf') return Number.POSITIVE_INFINITY;
  if (special === '-inf') return Number.NEGATIVE_INFINITY;
  if (special === 'nan') return Number.NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`not a sample value: ${text}`);
  return value;
}

/** Sum of every sample of `name` whose labels include `match` (all of them when `match` is empty). */
export function sumSamples(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([label, value]) => s.labels[label] === value))
    .reduce((total, s) => total + s.value, 0);
}

/** `after - before` for every series of `name`, keyed by its labels (`provider=payme,class=success`); zeros left out. */
export function seriesDeltas(before: readonly Sample[], after: readonly Sample[], name: string): Record<string, number> {
  const key = (s: Sample) =>
    Object.keys(s.labels)
      .sort()
      .map((label) => `${label}=${s.labels[label]}`)
      .join(',');
  const start = new Map(before.filter((s) => s.name === name).map((s) => [key(s), s.value]));
  const deltas: Record<string, number> = {};
  for (const s of after.filter((x) => x.name === name)) {
    const delta = s.value - (start.get(key(s)) ?? 0);
    if (delta !== 0) deltas[key(s)] = delta;
  }
  return deltas;
}
