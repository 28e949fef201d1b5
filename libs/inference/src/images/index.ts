export * from './decode-image';
export * from './decode-queue';
