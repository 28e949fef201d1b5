export { mahalanobisMap, mahalanobisMapBatch } from './mahalanobis-map';
export { createMahalanobisKernel, type MahalanobisKernel } from './mahalanobis-kernel';
