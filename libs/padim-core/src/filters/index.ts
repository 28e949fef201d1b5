export { gaussianBlur, gaussianKernel1d, gaussianKernelSize } from './gaussian-blur';
