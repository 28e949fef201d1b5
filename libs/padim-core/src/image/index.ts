export { unfilterPng, unfilterPngScalar } from './png-unfilter';
export { resizeBilinear } from './resize-bilinear';
export { PilRowResize, resizePil, resizePilByRows, resizePilByRowsScalar, resizePilScalar } from './resize-pil';
