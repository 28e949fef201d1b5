/** Thrown when a Cholesky factorisation meets a non-positive (or NaN) pivot. */
export class NotPositiveDefiniteError extends Error {
  override readonly name = 'NotPositiveDefiniteError';

  constructor(
    /** Zero-based index of the pivot that failed. */
    readonly pivot: number,
    /** The value under the square root at that pivot. */
    readonly pivotValue: number,
    /** Optional context for the message, e.g. "position 17". */
    readonly context?: string,
  ) {
    super(`Matrix is not positive definite${context ? ` (${context})` : ''}: ` + `Cholesky pivot ${pivot} is ${pivotValue}, expected > 0`);
  }
}
