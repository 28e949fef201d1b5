export * from './api-metrics';
export * from './metrics-registry';
export * from './worker-metrics';
export * from './run-outcome-claim';
