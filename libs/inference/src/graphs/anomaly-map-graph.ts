import { gaussianKernel1d, gaussianKernelSize } from '@padim-fleet/padim-core';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';

/**
 * Anomaly maps from patch distances, as padim-core's resizeBilinear + gaussianBlur compute them, in one
 * onnxruntime graph so that a batch is mapped off the event loop with MLAS kernels: input `distance`
 * [B, H·W] → bilinear Resize to side×side (half_pixel: PyTorch's align_corners=False) → reflect Pad
 * by the kernel radius → row then column Conv with the normalised Gaussian → output `map` [B, side·side].
 */
export function buildAnomalyMapGraph(grid: { height: number; width: number }, side: number, sigma: number): Uint8Array {
  const size = gaussianKernelSize(sigma);
  const r = (size - 1) / 2;
  if (r >= side) throw new RangeError(`buildAnomalyMapGraph: kernel radius ${r} needs a map larger than ${side}x${side}`);
  const kernel = Float32Array.from(gaussianKernel1d(sigma, size));
  const g = new OnnxGraphBuilder('anomaly_map');
  const distance = g.input('distance', 'float', ['B', grid.height * grid.width]);
  const patches = g.node('Reshape', [distance, g.int64s('patch_shape', [-1, 1, grid.height, grid.width])]);
  const batchSizes = g.node('Concat', [g.node('Slice', [g.node('Shape', [patches]), g.int64s('nc_start', [0]), g.int64s('nc_end', [2])]), g.int64s('map_hw', [side, side])], { axis: 0 });
  const up = g.node('Resize', [patches, '', '', batchSizes], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  const padded = g.node('Pad', [up, g.int64s('pads', [0, 0, r, r, 0, 0, r, r])], { mode: 'reflect' });
  const rows = g.node('Conv', [padded, g.initializer('kernel_row', kernel, [1, 1, 1, size])]);
  const cols = g.node('Conv', [rows, g.initializer('kernel_col', kernel, [1, 1, size, 1])]);
  g.node('Reshape', [cols, g.int64s('map_shape', [-1, side * side])], {}, ['map']);
  g.output('map', 'float', ['B', side * side]);
  return g.toBytes();
}
