/** The numbers a scorer needs, as stored: float32, position-major. */
export interface ModelTensors {
  mean: Float32Array; // [P, d]
  invCholesky: Float32Array; // [P, d(d+1)/2], packed lower triangle of L⁻¹
}
