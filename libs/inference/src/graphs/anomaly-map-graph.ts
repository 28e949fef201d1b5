import { anomalyMapOperator } from '@padim-fleet/padim-core';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';

/**
 * Anomaly maps from patch distances, as padim-core's resizeBilinear + gaussianBlur compute them, in one
 * onnxruntime graph so that a batch is mapped off the event loop: input `distance` [B, H·W] → the
 * [H, W] grid D of each image → A_h · D · A_wᵀ → output `map` [B, side·side]. A_h and A_w are the
 * upsampling-then-blur operators of each axis (anomalyMapOperator); both steps are linear and separable,
 * so two matrix products replace the resize, the reflect pad and the two 33-tap convolutions.
 */
export function buildAnomalyMapGraph(grid: { height: number; width: number }, side: number, sigma: number): Uint8Array {
  const g = new OnnxGraphBuilder('anomaly_map');
  const distance = g.input('distance', 'float', ['B', grid.height * grid.width]);
  const map = addAnomalyMapNodes(g, distance, grid, side, sigma); // [B, side, side]
  g.node('Reshape', [map, g.int64s('map_shape', [-1, side * side])], {}, ['map']);
  g.output('map', 'float', ['B', side * side]);
  return g.toBytes();
}

/** Adds the map nodes to `g`: `distance` [B, H·W] → the [B, side, side] maps (upsampled, blurred). */
export function addAnomalyMapNodes(g: OnnxGraphBuilder, distance: string, grid: { height: number; width: number }, side: number, sigma: number): string {
  const rows = Float32Array.from(anomalyMapOperator(grid.height, side, sigma)); // [side, H]
  const cols = anomalyMapOperator(grid.width, side, sigma); // [side, W]
  const colsT = new Float32Array(grid.width * side); // [W, side]
  for (let o = 0; o < side; o++) for (let j = 0; j < grid.width; j++) colsT[j * side + o] = cols[o * grid.width + j];
  const patches = g.node('Reshape', [distance, g.int64s('grid_shape', [-1, grid.height, grid.width])]);
  const upRows = g.node('MatMul', [g.initializer('rows', rows, [side, grid.height]), patches]); // [B, side, W]
  return g.node('MatMul', [upRows, g.initializer('cols_t', colsT, [grid.width, side])]); // [B, side, side]
}
