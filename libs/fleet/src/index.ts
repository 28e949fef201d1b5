export * from './accumulator-stream';
export * from './image-source';
export * from './merge-partials';
export * from './plan-training';
export * from './redis-connection';
export * from './training-runs';
