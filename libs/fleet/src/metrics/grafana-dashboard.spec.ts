import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ApiMetrics } from './api-metrics';
import { exposedMetricNames } from './metrics-registry';
import { WorkerMetrics } from './worker-metrics';

const DASHBOARD = path.resolve(__dirname, '../../../../infra/grafana/padim-fleet.json');

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string }[];
}

/**
 * The metric names a PromQL expression reads: what is left once strings, label matchers, ranges,
 * grouping clauses, numbers and function calls are taken out.
 */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\b/gi, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?/g)) {
    if (match[1] !== undefined) continue; // a function or an aggregation
    if (['and', 'or', 'unless', 'bool', 'offset'].includes(match[0])) continue;
    names.add(match[0]);
  }
  return [...names].sort();
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string }[] };
};
const graphs = dashboard.panels.filter((p) => p.type !== 'row');
const queried = new Set(graphs.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr))));
const registered = new Set([...exposedMetricNames(new ApiMetrics([]).registry), ...exposedMetricNames(new WorkerMetrics().registry)]);

describe('metricNamesIn', () => {
  it('finds the metrics of an expression, not its functions, labels, ranges or numbers', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (le, queue) (rate(padim_job_duration_seconds_bucket{outcome="completed",x=~"a|b"}[$__rate_interval]))) / ignoring (le) up',
      ),
    ).toEqual(['padim_job_duration_seconds_bucket', 'up']);
    expect(metricNamesIn('sum(rate(a_total[5m])) / (sum(rate(a_total[5m])) + sum(rate(b_total[1h]))) > 1e-9')).toEqual(['a_total', 'b_total']);
  });
});

describe('infra/grafana/padim-fleet.json', () => {
  it('is a dashboard of queries on the Prometheus data source the user picks', () => {
    expect(dashboard).toMatchObject({ uid: 'padim-fleet', title: 'padim-fleet' });
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource' }));
    expect(graphs.length).toBeGreaterThanOrEqual(12);
    for (const panel of graphs) {
      expect([panel.title, panel.datasource]).toEqual([panel.title, { type: 'prometheus', uid: '${datasource}' }]);
      expect([panel.title, (panel.targets ?? []).length > 0]).toEqual([panel.title, true]);
    }
  });

  it('queries only metrics that the API or the workers register', () => {
    expect([...queried].filter((name) => !registered.has(name))).toEqual([]);
  });

  it("shows every padim_ metric the code registers, and the processes' memory and event-loop lag", () => {
    const own = [...registered].filter((name) => name.startsWith('padim_'));
    // A histogram is shown when any of its series is.
    const shown = (name: string) =>
      queried.has(name) || [...queried].some((q) => q.replace(/_(bucket|sum|count)$/, '') === name.replace(/_(bucket|sum|count)$/, ''));
    expect(own.filter((name) => !shown(name))).toEqual([]);
    expect(queried).toContain('process_resident_memory_bytes');
    expect(queried).toContain('nodejs_eventloop_lag_seconds');
  });
});
