import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { BackboneSpec, TORCHVISION_NORMALIZATION } from '@padim-fleet/padim-core';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { buildResnet18Onnx, resnet18Spec } from '../backbones/resnet18';
import { randomFloats } from '../testing/random-floats';
import { shippedResnet18Dir } from '../config/paths';
import { appendEmbeddingHead, ChannelSelection } from './embedding-graph';

const CHANNELS: [number, number, number] = [4, 5, 6];
const F = 15;
const spec: BackboneSpec = {
  name: 'tiny',
  inputName: 'image',
  outputs: ['f1', 'f2', 'f3'],
  channels: CHANNELS,
  strides: [4, 8, 16],
  normalization: TORCHVISION_NORMALIZATION,
};

/** Three independent 3×3 pad-1 convs of the image at strides 4, 8 and 16. */
function tinyBackbone(opset?: number): Uint8Array {
  const g = new OnnxGraphBuilder('tiny');
  const x = g.input('image', 'float', ['N', 3, 'H', 'W']);
  spec.outputs.forEach((name, i) => {
    const s = spec.strides[i];
    const w = g.initializer(`w${i}`, randomFloats(CHANNELS[i] * 27, 100 + i), [CHANNELS[i], 3, 3, 3]);
    const b = g.initializer(`b${i}`, randomFloats(CHANNELS[i], 200 + i), [CHANNELS[i]]);
    g.node('Conv', [x, w, b], { kernel_shape: [3, 3], strides: [s, s], pads: [1, 1, 1, 1] }, [name]);
    g.output(name, 'float', ['N', CHANNELS[i], `h${i}`, `w${i}`]);
  });
  return g.toBytes(opset);
}

interface Map4 {
  dims: number[];
  data: Float32Array;
}

/** F.interpolate(mode='nearest') to (h, w): source index floor(dst · in / out). */
function nearest(x: Map4, h: number, w: number): Map4 {
  const [n, c, ih, iw] = x.dims;
  const data = new Float32Array(n * c * h * w);
  for (let b = 0; b < n * c; b++) {
    for (let y = 0; y < h; y++) {
      for (let z = 0; z < w; z++) {
        data[(b * h + y) * w + z] = x.data[(b * ih + Math.floor((y * ih) / h)) * iw + Math.floor((z * iw) / w)];
      }
    }
  }
  return { dims: [n, c, h, w], data };
}

/** Reference head: nearest-upsample, concat channels, then select or project ([F, d] matrix). */
function referenceHead(maps: Map4[], selection: ChannelSelection): Map4 {
  const [n, , h, w] = maps[0].dims;
  const hw = h * w;
  const up = maps.map((m) => nearest(m, h, w));
  const feature = (b: number, f: number, pos: number): number => {
    let k = f;
    for (const m of up) {
      if (k < m.dims[1]) return m.data[(b * m.dims[1] + k) * hw + pos];
      k -= m.dims[1];
    }
    throw new Error(`channel ${f} out of range`);
  };
  const d = selection.kind === 'indices' ? selection.indices.length : selection.d;
  const data = new Float32Array(n * d * hw);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < d; k++) {
      for (let pos = 0; pos < hw; pos++) {
        let v = 0;
        if (selection.kind === 'indices') v = feature(b, selection.indices[k], pos);
        else for (let f = 0; f < F; f++) v += selection.matrix[f * d + k] * feature(b, f, pos);
        data[(b * d + k) * hw + pos] = v;
      }
    }
  }
  return { dims: [n, d, h, w], data };
}

async function check(selection: ChannelSelection, n: number, size: number, tolerance: number): Promise<void> {
  const image = new ort.Tensor('float32', randomFloats(n * 3 * size * size, size), [n, 3, size, size]);
  const backbone = await ort.InferenceSession.create(tinyBackbone());
  const maps = await backbone.run({ image });
  const expected = referenceHead(
    spec.outputs.map((o) => ({ dims: maps[o].dims as number[], data: maps[o].data as Float32Array })),
    selection,
  );

  const session = await ort.InferenceSession.create(appendEmbeddingHead(tinyBackbone(), spec, selection));
  expect(session.outputNames).toEqual(['embedding']);
  const out = await session.run({ image });
  expect(out.embedding.dims).toEqual(expected.dims);
  const got = out.embedding.data as Float32Array;
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected.data[i]));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

describe('appendEmbeddingHead', () => {
  const indices: ChannelSelection = { kind: 'indices', indices: [14, 0, 3, 4, 8, 9, 13, 2] };
  const projection: ChannelSelection = { kind: 'projection', matrix: randomFloats(F * 6, 7), d: 6 };

  it('gathers channels exactly like upsample + concat + index (32×32: grids 8, 4, 2)', async () => {
    await check(indices, 2, 32, 0);
  });

  it('lines up grids that are not multiples of each other like F.interpolate(size=...) (40×40: grids 10, 5, 3)', async () => {
    await check(indices, 1, 40, 0);
    await check({ kind: 'indices', indices: Array.from({ length: F }, (_, i) => i) }, 1, 40, 0);
  });

  it('gathers from one layer, from layers with one skipped, in and out of order', async () => {
    for (const chosen of [
      [1, 3],
      [3, 1],
      [14, 2],
      [12, 9, 10],
    ])
      await check({ kind: 'indices', indices: chosen }, 1, 40, 0);
  });

  it('upsamples only the chosen channels: every Resize takes a Gather of its layer', () => {
    const graph = onnx.ModelProto.decode(appendEmbeddingHead(tinyBackbone(), spec, indices)).graph!;
    const producer = new Map(graph.node!.flatMap((n) => n.output!.map((o) => [o, n.opType] as const)));
    const resizes = graph.node!.filter((n) => n.opType === 'Resize');
    expect(resizes).toHaveLength(2);
    for (const r of resizes) expect(producer.get(r.input![0])).toBe('Gather');
  });

  it('projects with the [F, d] matrix like upsample + concat + x·W', async () => {
    await check(projection, 2, 32, 1e-5);
    await check(projection, 1, 40, 1e-5);
  });

  it('keeps the input and declares embedding [N, d, h, w] as the only output', async () => {
    const session = await ort.InferenceSession.create(appendEmbeddingHead(tinyBackbone(), spec, indices));
    expect(session.inputNames).toEqual(['image']);
    expect(session.outputNames).toEqual(['embedding']);
  });

  it('rejects bad selections and backbones with clear errors', () => {
    expect(() => appendEmbeddingHead(tinyBackbone(), spec, { kind: 'indices', indices: [0, 15] })).toThrow(/index at position 1 is 15, outside \[0, 15\)/);
    expect(() => appendEmbeddingHead(tinyBackbone(), spec, { kind: 'indices', indices: [] })).toThrow(/empty/);
    expect(() => appendEmbeddingHead(tinyBackbone(), spec, { kind: 'projection', matrix: new Float32Array(14 * 6), d: 6 })).toThrow(
      /84 values, expected F×d = 15×6/,
    );
    expect(() => appendEmbeddingHead(tinyBackbone(), { ...spec, outputs: ['f1', 'f2', 'layer3'] }, indices)).toThrow(
      /backbone tiny has no output "layer3" \(outputs: f1, f2, f3\)/,
    );
    expect(() => appendEmbeddingHead(tinyBackbone(), { ...spec, channels: [4, 6, 5] }, indices)).toThrow(/output "f2" has 5 channels, the spec says 6/);
    expect(() => appendEmbeddingHead(tinyBackbone(11), spec, indices)).toThrow(/opset 11; the embedding head needs opset >= 13/);
  });
});

describe('appendEmbeddingHead on ResNet-18', () => {
  it('gives a [1, 100, 64, 64] embedding at 256×256 (PaDiM-R18: 100 of 448 channels)', async () => {
    const backbone = await buildResnet18Onnx(shippedResnet18Dir());
    const indices = Array.from({ length: 100 }, (_, i) => (i * 37) % 448);
    const session = await ort.InferenceSession.create(appendEmbeddingHead(backbone, resnet18Spec, { kind: 'indices', indices }));
    const out = await session.run({ image: new ort.Tensor('float32', randomFloats(3 * 256 * 256, 3), [1, 3, 256, 256]) });
    expect(out.embedding.dims).toEqual([1, 100, 64, 64]);
  });
});
