export * from './api/training-request.dto';
export * from './api/training-status.dto';
export * from './api/scoring.dto';
export * from './config/fleet-config';
export * from './jobs';
export * from './names';
export * from './runs/training-plan';
export * from './validation';
