export { accumulateEmbeddingGroup, accumulateEmbeddings, createResidentGaussianAccumulator, DEFAULT_RESIDENT_MAX_BATCH } from './accumulate-embeddings';
export {
  checkFinalizable,
  COVARIANCE_REGULARIZATION,
  finalizeGaussian,
  finalizeGaussianFloat32,
  finalizeGaussianInPlace,
  factorsOverComoments,
  consumeAccumulator,
  toFloat32Gaussian,
  type FinalizedGaussian,
  type FinalizeGaussianOptions,
  type Float32Gaussian,
} from './finalize-gaussian';
export {
  cloneAccumulator,
  createGaussianAccumulator,
  mergeGaussianAccumulators,
  mergeInto,
  sliceAccumulator,
  type GaussianAccumulator,
} from './gaussian-accumulator';
export {
  ACCUMULATOR_FORMAT_VERSION,
  ACCUMULATOR_HEADER_BYTES,
  ACCUMULATOR_MAGIC,
  accumulatorLayout,
  decodeAccumulatorPayload,
  deserializeAccumulator,
  encodeAccumulatorHeader,
  encodeAccumulatorPayload,
  readAccumulatorHeader,
  serializeAccumulator,
  type AccumulatorHeader,
  type AccumulatorLayout,
  type AccumulatorMeta,
} from './serialize-accumulator';
export {
  accumulateGroupByGram,
  centredBlockPositions,
  CENTRED_BLOCK_BYTES,
  gramBlockPositions,
  GRAM_BLOCK_BYTES,
  GramGroup,
  gramMergeBytes,
  mergeGroupStatistics,
  type BatchedGram,
  type GramGroupOptions,
} from './accumulate-by-gram';
export { gramBandFloats, gramBandLayout, gramBands, GRAM_BAND_MIN_ROWS, MAX_GRAM_BANDS, type GramBand } from './gram-bands';
