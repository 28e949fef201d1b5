import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { BackboneSpec, TORCHVISION_NORMALIZATION } from '@padim-fleet/padim-core';
import { sha256Hex } from '../model-io/model-folder';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { parseNpy } from '../npy/read-npy';

export const resnet18Spec: BackboneSpec = {
  name: 'resnet18',
  inputName: 'image',
  outputs: ['layer1', 'layer2', 'layer3'],
  channels: [64, 128, 256],
  strides: [4, 8, 16],
  normalization: TORCHVISION_NORMALIZATION,
};

interface ConvDef {
  module: string;
  out: number;
  in: number;
  kernel: number;
  stride: number;
}

const conv = (module: string, out: number, inC: number, kernel: number, stride: number): ConvDef => ({ module, out, in: inC, kernel, stride });

interface BlockDef {
  conv1: ConvDef;
  conv2: ConvDef;
  downsample?: ConvDef;
}

/** The two BasicBlocks of one stage; the first block of a widening stage halves the grid and has a 1×1 downsample. */
function stage(layer: number, inC: number, out: number): BlockDef[] {
  const stride = inC === out ? 1 : 2;
  return [0, 1].map((b) => {
    const first = b === 0;
    const prefix = `layer${layer}.${b}`;
    return {
      conv1: conv(`${prefix}.conv1`, out, first ? inC : out, 3, first ? stride : 1),
      conv2: conv(`${prefix}.conv2`, out, out, 3, 1),
      downsample: first && stride !== 1 ? conv(`${prefix}.downsample.0`, out, inC, 1, stride) : undefined,
    };
  });
}

const STEM = conv('conv1', 64, 3, 7, 2);
const STAGES = [stage(1, 64, 64), stage(2, 64, 128), stage(3, 128, 256)];

const CONVS: readonly ConvDef[] = [STEM, ...STAGES.flat().flatMap((b) => [b.conv1, b.conv2, ...(b.downsample ? [b.downsample] : [])])];

/** The checksum list a weights folder may hold, in `sha256sum` format (`sha256sum -c SHA256SUMS` checks it by hand). */
export const RESNET18_CHECKSUMS_FILE = 'SHA256SUMS';

/** The folder's SHA256SUMS as file name → SHA-256, or null where the folder has none (weights of one's own). */
async function readChecksums(weightsDir: string): Promise<{ file: string; sums: Map<string, string> } | null> {
  const file = path.join(weightsDir, RESNET18_CHECKSUMS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const sums = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!match) throw new Error(`${file}: line ${i + 1} is not "<sha256>  <file>"`);
    sums.set(match[2], match[1]);
  });
  return { file, sums };
}

/**
 * Reads `<module>.weight.npy` / `<module>.bias.npy` for every convolution, checking dtype and shape, and
 * each file's SHA-256 when the folder has a SHA256SUMS (the shipped weights do), so that a corrupted or
 * truncated file is named rather than silently changing every model.
 */
export async function loadResnet18Weights(weightsDir: string): Promise<Map<string, { weight: Float32Array; bias: Float32Array }>> {
  const checksums = await readChecksums(weightsDir);
  const weights = new Map<string, { weight: Float32Array; bias: Float32Array }>();
  for (const c of CONVS) {
    const load = async (suffix: string, expected: number[]): Promise<Float32Array> => {
      const name = `${c.module}.${suffix}.npy`;
      const file = path.join(weightsDir, name);
      const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
        throw e.code === 'ENOENT' ? new Error(`ResNet-18 weight file missing: ${file}`) : e;
      });
      if (checksums) {
        const expectedSha = checksums.sums.get(name);
        if (!expectedSha) throw new Error(`${checksums.file} has no SHA-256 for ${name}`);
        const actualSha = sha256Hex(bytes);
        if (actualSha !== expectedSha) {
          throw new Error(
            `ResNet-18 weight file corrupted: ${file} has SHA-256 ${actualSha}, ${checksums.file} expects ${expectedSha} (restore the file from the repository)`,
          );
        }
      }
      const npy = parseNpy(bytes, file);
      if (npy.dtype !== '<f4') throw new Error(`${file}: dtype ${npy.dtype}, expected <f4 (float32)`);
      if (npy.shape.length !== expected.length || npy.shape.some((d, i) => d !== expected[i])) {
        throw new Error(`${file}: shape [${npy.shape.join(', ')}], expected [${expected.join(', ')}]`);
      }
      return npy.data as Float32Array;
    };
    weights.set(c.module, {
      weight: await load('weight', [c.out, c.in, c.kernel, c.kernel]),
      bias: await load('bias', [c.out]),
    });
  }
  return weights;
}

/**
 * Builds torchvision's ResNet-18 stem and layer1..layer3 (BatchNorm folded) as an ONNX graph:
 * input `image` [N, 3, H, W] float, outputs `layer1`, `layer2`, `layer3` (strides 4, 8, 16).
 */
export async function buildResnet18Onnx(weightsDir: string): Promise<Uint8Array> {
  const weights = await loadResnet18Weights(weightsDir);
  const g = new OnnxGraphBuilder('resnet18');
  const convNode = (x: string, c: ConvDef, outputs?: string[]): string => {
    const { weight, bias } = weights.get(c.module)!;
    const w = g.initializer(`${c.module}.weight`, weight, [c.out, c.in, c.kernel, c.kernel]);
    const b = g.initializer(`${c.module}.bias`, bias, [c.out]);
    const pad = (c.kernel - 1) / 2;
    return g.node('Conv', [x, w, b], { kernel_shape: [c.kernel, c.kernel], strides: [c.stride, c.stride], pads: [pad, pad, pad, pad] }, outputs);
  };

  let x = g.input(resnet18Spec.inputName, 'float', ['N', 3, 'H', 'W']);
  x = g.node('Relu', [convNode(x, STEM)]);
  x = g.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  STAGES.forEach((blocks, i) => {
    blocks.forEach((block, b) => {
      const shortcut = block.downsample ? convNode(x, block.downsample) : x;
      const y = convNode(g.node('Relu', [convNode(x, block.conv1)]), block.conv2);
      const sum = g.node('Add', [y, shortcut]);
      x = g.node('Relu', [sum], {}, b === blocks.length - 1 ? [resnet18Spec.outputs[i]] : undefined);
    });
    g.output(resnet18Spec.outputs[i], 'float', ['N', resnet18Spec.channels[i], `H_${resnet18Spec.outputs[i]}`, `W_${resnet18Spec.outputs[i]}`]);
  });
  return g.toBytes();
}
