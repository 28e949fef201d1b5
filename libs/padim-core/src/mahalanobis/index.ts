export { mahalanobisMap, mahalanobisMapBatch } from './mahalanobis-map';
