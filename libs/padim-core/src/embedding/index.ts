export { randomChannelSelection, validateChannelIndices } from './channel-selection';
export { semiOrthogonalProjection, semiOrthogonalProjection64 } from './semi-orthogonal';
