export { unfilterPng, unfilterPngScalar } from './png-unfilter';
export { resizeBilinear } from './resize-bilinear';
export { resizeBilinearAntialias } from './resize-bilinear-antialias';
export { PilRowResize, resizePil, resizePilByRows, resizePilByRowsScalar, resizePilScalar } from './resize-pil';
export { upsampleNearest } from './upsample-nearest';
