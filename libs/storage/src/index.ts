export * from './blob-store';
export * from './create-blob-store';
export * from './hashing';
export * from './keys';
export * from './local-blob-store';
export * from './model-errors';
export * from './model-registry';
export * from './s3-blob-store';
