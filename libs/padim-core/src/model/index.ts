export * from './model-manifest';
export * from './thresholds';
