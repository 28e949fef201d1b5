export { mahalanobisMap, mahalanobisMapBatch } from './mahalanobis-map';
export {
  DEFAULT_BLOCKED_KERNEL_BYTES,
  createBlockedMahalanobisKernel,
  createMahalanobisKernel,
  createMahalanobisKernelLoader,
  type BlockedMahalanobisKernel,
  type MahalanobisKernel,
  type MahalanobisKernelLoader,
} from './mahalanobis-kernel';
