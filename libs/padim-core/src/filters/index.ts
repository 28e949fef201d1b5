export { anomalyMapOperator } from './anomaly-map-operator';
export { gaussianBlur, gaussianKernel1d, gaussianKernelSize } from './gaussian-blur';
