export * from './accumulator-stream';
export * from './merge-partials';
export * from './scoring';
export * from './model-cache';
export * from './sweep-online-results';
export * from './unpack-archive';
