import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DASHBOARD_FILE = 'deploy/grafana/dashboards/fiscal-worker.json';
export const ALERTS_FILE = 'deploy/prometheus/alerts.yml';

export interface DeployQuery {
  /** Where the expression comes from, e.g. `dashboard "Retries" A` or `alert FiscalApiDown`. */
  source: string;
  expr: string;
}

export interface DashboardPanel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string } | null;
  targets?: { refId?: string; expr?: string; datasource?: { type?: string; uid?: string } | null }[];
  panels?: DashboardPanel[];
}

export interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The only Grafana variables the dashboard may use, and what stands in for them outside Grafana. */
export const GRAFANA_VARIABLES: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '1m',
  provider: '.*',
};

/** `$name` and `${name}` / `${name:format}` → a plain value; unknown variables are left as they are. */
export function substituteGrafanaVariables(expr: string): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    return GRAFANA_VARIABLES[name] ?? whole;
  });
}

export function readDashboard(): { panels?: DashboardPanel[] } & Record<string, unknown> {
  return JSON.parse(readFileSync(join(REPO_ROOT, DASHBOARD_FILE), 'utf8')) as {
    panels?: DashboardPanel[];
  } & Record<string, unknown>;
}

/** Every panel that shows data, rows unfolded. */
export function dashboardPanels(panels: readonly DashboardPanel[] = readDashboard().panels ?? []): DashboardPanel[] {
  return panels.flatMap((panel) => (panel.type === 'row' ? dashboardPanels(panel.panels ?? []) : [panel]));
}

export function readAlertRules(): AlertRule[] {
  const doc = parse(readFileSync(join(REPO_ROOT, ALERTS_FILE), 'utf8')) as {
    groups?: { name: string; rules?: AlertRule[] }[];
  };
  return (doc.groups ?? []).flatMap((group) => group.rules ?? []);
}

/**
 * Every PromQL expression of the Grafana dashboard (Grafana variables replaced, see GRAFANA_VARIABLES) and of the
 * alert rules, ready to be sent to a real Prometheus.
 */
export function dashboardAndAlertQueries(): DeployQuery[] {
  const fromDashboard = dashboardPanels().flatMap((panel) =>
    (panel.targets ?? [])
      .filter((target) => typeof target.expr === 'string' && target.expr.trim() !== '')
      .map((target) => ({
        source: `dashboard "${panel.title ?? panel.id}" ${target.refId ?? ''}`.trim(),
        expr: substituteGrafanaVariables(target.expr ?? ''),
      })),
  );
  const fromAlerts = readAlertRules().map((rule) => ({
    source: rule.alert !== undefined ? `alert ${rule.alert}` : `record ${rule.record ?? '?'}`,
    expr: rule.expr.trim(),
  }));
  return [...fromDashboard, ...fromAlerts];
}
