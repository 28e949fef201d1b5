export { resizeBilinear } from './resize-bilinear';
export { resizeBilinearAntialias } from './resize-bilinear-antialias';
export { upsampleNearest } from './upsample-nearest';
