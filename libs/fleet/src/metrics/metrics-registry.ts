import { Registry, collectDefaultMetrics } from 'prom-client';

/** The content type of a /metrics answer (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * A registry of its own for one process (not prom-client's global one, so that tests may build several),
 * with prom-client's default process metrics: CPU, resident memory (`process_resident_memory_bytes`),
 * heap, event-loop lag (`nodejs_eventloop_lag_seconds` and its percentiles), GC, handles.
 */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The series names a registry exposes, as a query names them: a histogram `x` appears as `x_bucket`,
 * `x_sum` and `x_count`, a counter or gauge under its own name.
 */
export function exposedMetricNames(registry: Registry): string[] {
  const names: string[] = [];
  for (const metric of registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    if (type === 'histogram') names.push(`${name}_bucket`, `${name}_sum`, `${name}_count`);
    else if (type === 'summary') names.push(name, `${name}_sum`, `${name}_count`);
    else names.push(name);
  }
  return names.sort();
}
