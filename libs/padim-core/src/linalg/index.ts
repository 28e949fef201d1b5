export { choleskyInPlace } from './cholesky';
export { invertLowerTriangular, singularDiagonalError } from './invert-lower-triangular';
export { NotPositiveDefiniteError } from './not-positive-definite-error';
export { packedLowerIndex, packedUpperIndex, packLower, packSymmetricUpper, triangleSize, unpackLower, unpackSymmetricUpper } from './packed';
export { qr, type ThinQr } from './qr';
