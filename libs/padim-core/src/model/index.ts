export * from './model-manifest';
export * from './thresholds';
export * from './holdout';
export * from './model-tensors';
