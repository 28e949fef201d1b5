import type { OnnxDevice } from '../runtime/onnx-session';

/**
 * How co-moments are accumulated: 'gram', a float32 GEMM per group of images through onnxruntime,
 * centred within the group and merged into float64; 'float64', the f64x2 co-moment kernel (the
 * reference); 'in-graph', the group's mean and centred co-moment computed in the graph that runs the
 * backbone (on the GPU with `device: 'cuda'`), so that only they leave the device, then merged into
 * float64 as the Gram path does. All give the same accumulator format.
 */
export type ComomentPath = 'gram' | 'float64' | 'in-graph';
export const COMOMENT_PATHS: readonly ComomentPath[] = ['in-graph', 'gram', 'float64'];

/**
 * Bytes of embeddings a Gram group may hold. Each pass reads and writes every float64 co-moment once,
 * so a larger group spends less per image on that pass, and it gives the GEMM a longer inner dimension:
 * onnxruntime's MatMul of [d, B]·[B, d] per position ran 2 to 3 times faster per image at B=128 and 256
 * than at B=64 on a 2-core AVX-512 machine (`npm run bench:accumulate -- --gemm`).
 */
export const GRAM_GROUP_BYTES = 256 * 2 ** 20;
/** Fewest images per Gram group, however large each embedding. */
export const MIN_GRAM_GROUP_IMAGES = 64;
/**
 * Most images per Gram group. The GEMM sums each co-moment over the group in float32, so its rounding
 * grows with B: on the 320 screw train images (resnet18 d=100) the finalised factors differed from the
 * float64 kernel's by 2.7e-6 with groups of 64, 7.6e-6 with 128 and 1.1e-5 with 256, past the 1e-5 the
 * path is held to, while 256 ran no faster than 128.
 */
export const MAX_GRAM_GROUP_IMAGES = 128;
/**
 * A Gram group at least this large makes the Gram path the CPU's default: there it took 0.6 to 0.75 of
 * the float64 kernel's time per image (resnet18 d=100), where groups of 64 took as long or longer.
 */
export const FAST_GRAM_GROUP_IMAGES = 128;

/**
 * Images per Gram accumulation pass for P positions × d: MAX_GRAM_GROUP_IMAGES where GRAM_GROUP_BYTES
 * of float32 embeddings hold them (resnet18 d=100 at 256×256: 128, 210 MB), else MIN_GRAM_GROUP_IMAGES
 * (resnet50 d=550: 64, 577 MB).
 */
export function gramGroupImages(positions: number, d: number): number {
  return MAX_GRAM_GROUP_IMAGES * positions * d * 4 <= GRAM_GROUP_BYTES ? MAX_GRAM_GROUP_IMAGES : MIN_GRAM_GROUP_IMAGES;
}

/** Images per pass of the float64 co-moment kernel (two batches of 8): measured fastest for it at resnet18 d=100. */
export const FLOAT64_GROUP_IMAGES = 16;

/** With the backbone on CUDA the statistics are computed there too ('in-graph'); on the CPU, on the host. */
export function defaultComomentPath(positions: number, d: number, device: OnnxDevice = 'cpu'): ComomentPath {
  return device === 'cuda' ? 'in-graph' : hostComomentPath(positions, d);
}

/**
 * The path on the host (the CPU): the float32 Gram path where its group holds FAST_GRAM_GROUP_IMAGES
 * or more (resnet18 or resnet50 at d=100, 256×256: groups of 128), the float64 kernel otherwise. With
 * groups of 64 (d=550), measured with `npm run bench:accumulate`, alternating in one process, the Gram
 * path took 1.1 to 1.9 times the kernel's time in six rounds of two runs, and it would hold 64 images'
 * embeddings instead of 16 (0.43 GB more), which a resnet50 d=550 training bounded to 1.3 times its
 * accumulator cannot spare. Either path can be asked for (`--accumulate`).
 */
export function hostComomentPath(positions: number, d: number): 'gram' | 'float64' {
  return gramGroupImages(positions, d) >= FAST_GRAM_GROUP_IMAGES ? 'gram' : 'float64';
}
