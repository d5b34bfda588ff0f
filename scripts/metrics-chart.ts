/**
 * Renders Prometheus range-query results as a self-contained HTML page of SVG line charts (no fonts or scripts from
 * the network), for scripts/metrics-snapshot.ts to screenshot with headless Chromium.
 */

export interface ChartSeries {
  name: string;
  /** [unix seconds, value]; NaN breaks the line. */
  points: [number, number][];
}

export interface ChartPanel {
  title: string;
  /** The PromQL shown under the title. */
  expr: string;
  unit: 'per_second' | 'seconds' | 'jobs';
  series: ChartSeries[];
}

export interface ChartPage {
  title: string;
  subtitle: string;
  start: number;
  end: number;
  panels: ChartPanel[];
}

// Tableau 10 and two darker extras: distinct on white, also for up to a dozen lines in one panel.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#2f4b7c', '#8c564b'];
const WIDTH = 640;
const HEIGHT = 270;
const PAD = { left: 62, right: 12, top: 10, bottom: 26 };

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10) * power;
}

function formatValue(value: number, unit: ChartPanel['unit']): string {
  if (unit === 'seconds') return value >= 1 ? `${+value.toFixed(2)} s` : `${+(value * 1000).toFixed(1)} ms`;
  if (unit === 'per_second') return `${+value.toFixed(2)}/s`;
  return String(+value.toFixed(1));
}

function formatClock(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().slice(11, 19);
}

function renderSvg(panel: ChartPanel, start: number, end: number): string {
  const values = panel.series.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const max = Math.max(0, ...values);
  const step = niceStep(max > 0 ? max : 1, 5);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + ((t - start) / Math.max(1, end - start)) * plotW;
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;

  const grid: string[] = [];
  for (let v = 0; v <= top + step / 1000; v += step) {
    grid.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    grid.push(`<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end">${escape(formatValue(v, panel.unit))}</text>`);
  }
  const tick = niceStep(end - start, 6);
  for (let t = Math.ceil(start / tick) * tick; t <= end; t += tick) {
    grid.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${PAD.top}" y2="${PAD.top + plotH}" class="grid"/>`);
    const anchor = x(t) > WIDTH - PAD.right - 24 ? 'end' : 'middle'; // the last label stays inside the chart
    grid.push(`<text x="${x(t)}" y="${HEIGHT - 8}" text-anchor="${anchor}">${formatClock(t)}</text>`);
  }
  const lines = panel.series.map((series, i) => {
    let d = '';
    let pen = 'M';
    for (const [t, v] of series.points) {
      if (!Number.isFinite(v)) {
        pen = 'M';
        continue;
      }
      d += `${pen}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = 'L';
    }
    return `<path d="${d}" stroke="${PALETTE[i % PALETTE.length]}" class="line"/>`;
  });
  const empty = panel.series.length === 0 ? `<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" class="empty">no data</text>` : '';
  return `<svg width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" xmlns="http://www.w3.org/2000/svg">
<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" class="plot"/>${grid.join('')}${lines.join('')}${empty}</svg>`;
}

function renderPanel(panel: ChartPanel, start: number, end: number): string {
  const legend = panel.series
    .map((s, i) => {
      const last = [...s.points].reverse().find(([, v]) => Number.isFinite(v))?.[1];
      const peak = Math.max(...s.points.map(([, v]) => v).filter(Number.isFinite));
      return `<span><i style="background:${PALETTE[i % PALETTE.length]}"></i>${escape(s.name)} <em>max ${escape(
        formatValue(Number.isFinite(peak) ? peak : 0, panel.unit),
      )}${last === undefined ? '' : `, last ${escape(formatValue(last, panel.unit))}`}</em></span>`;
    })
    .join('');
  return `<section><h2>${escape(panel.title)}</h2><code>${escape(panel.expr)}</code>${renderSvg(panel, start, end)}<div class="legend">${legend}</div></section>`;
}

export function renderChartPage(page: ChartPage): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escape(page.title)}</title>
<style>
  body { margin: 14px 18px; font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; color: #222; background: #fff; }
  h1 { font-size: 18px; margin: 0 0 2px; }
  p.sub { font-size: 12px; color: #555; margin: 0 0 10px; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 10px 18px; }
  section { border: 1px solid #ddd; border-radius: 4px; padding: 6px 8px; min-height: 372px; }
  h2 { font-size: 14px; margin: 0 0 2px; }
  code { display: block; font-size: 10px; line-height: 14px; color: #666; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; margin-bottom: 2px; }
  svg text { font-size: 10px; fill: #555; }
  svg text.empty { font-size: 14px; fill: #999; }
  .plot { fill: #fafafa; stroke: #ccc; }
  .grid { stroke: #e6e6e6; stroke-width: 1; }
  .line { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
  .legend { font-size: 11px; display: flex; flex-wrap: wrap; gap: 2px 12px; }
  .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; border-radius: 2px; }
  .legend em { color: #777; font-style: normal; }
</style></head>
<body><h1>${escape(page.title)}</h1><p class="sub">${escape(page.subtitle)}</p>
<main>${page.panels.map((panel) => renderPanel(panel, page.start, page.end)).join('\n')}</main></body></html>
`;
}
