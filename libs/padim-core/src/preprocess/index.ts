export * from './pixels-to-tensor';
