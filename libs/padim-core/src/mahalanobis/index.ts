export { mahalanobisMap, mahalanobisMapBatch } from './mahalanobis-map';
export {
  DEFAULT_BLOCKED_KERNEL_BYTES,
  createBlockedMahalanobisKernel,
  createMahalanobisKernel,
  type BlockedMahalanobisKernel,
  type MahalanobisKernel,
} from './mahalanobis-kernel';
