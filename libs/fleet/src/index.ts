export * from './image-source';
export * from './plan-training';
export * from './redis-connection';
export * from './redis-registry-lock';
export * from './training-runs';
export * from './registry-model';
export * from './scoring-runs';
export * from './model-archive';
<<<<<<< HEAD
export * from './metrics';
=======
export * from './completion-callbacks';
>>>>>>> webhooks
