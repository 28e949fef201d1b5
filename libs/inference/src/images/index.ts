export * from './decode-image';
export * from './decode-queue';
export { parsePngForFastPath, decodePngFast, type FastPathPng } from './png-fast-decode';
