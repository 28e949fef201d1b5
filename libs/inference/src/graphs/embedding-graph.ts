import { onnx } from 'onnx-proto';
import { BackboneSpec, featureCount, validateChannelIndices } from '@padim-fleet/padim-core';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';

/** Which embedding channels PaDiM keeps: a subset of the F concatenated channels, or a projection to d. */
export type ChannelSelection = { kind: 'indices'; indices: number[] } | { kind: 'projection'; matrix: Float32Array /* [F, d] row-major */; d: number };

export const EMBEDDING_OUTPUT = 'embedding';
const HEAD_PREFIX = 'embedding_head/';
/** Opset 13 made Resize's roi and scales optional, which the head relies on (it passes sizes only). */
const MIN_OPSET = 13;

/**
 * Appends PaDiM's embedding head to a backbone graph: layer2 and layer3 are upsampled (nearest, asymmetric,
 * floor: PyTorch's F.interpolate(mode='nearest')) to layer1's grid, concatenated on channels, then reduced
 * by Gather (indices: each layer's channels are taken before upsampling) or a bias-free 1×1 Conv (projection). The only output is `embedding` [N, d, H/4, W/4].
 * Resize targets layer1's actual size rather than fixed ×2/×4 scales, so inputs that are not multiples
 * of 16 still line up, as anomalib's F.interpolate(size=...) does.
 */
export function appendEmbeddingHead(backboneBytes: Uint8Array, spec: BackboneSpec, selection: ChannelSelection): Uint8Array {
  const model = onnx.ModelProto.decode(backboneBytes);
  const graph = model.graph;
  if (!graph) throw new Error('appendEmbeddingHead: the backbone model has no graph');
  const opset = model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  if (opset === undefined || opset === null || Number(opset) < MIN_OPSET) {
    throw new Error(`appendEmbeddingHead: the backbone uses ONNX opset ${opset ?? 'none'}; the embedding head needs opset >= ${MIN_OPSET}`);
  }
  const outputs = graph.output ?? [];
  spec.outputs.forEach((name, i) => {
    const info = outputs.find((o) => o.name === name);
    if (!info) {
      throw new Error(`appendEmbeddingHead: backbone ${spec.name} has no output "${name}" (outputs: ${outputs.map((o) => o.name).join(', ')})`);
    }
    // A declared channel count that disagrees with the spec would make Gather/Conv fail only at run time.
    const channels = info.type?.tensorType?.shape?.dim?.[1]?.dimValue;
    if (channels != null && Number(channels) !== spec.channels[i]) {
      throw new Error(`appendEmbeddingHead: backbone ${spec.name} output "${name}" has ${Number(channels)} channels, the spec says ${spec.channels[i]}`);
    }
  });

  const F = featureCount(spec);
  const g = new OnnxGraphBuilder('embedding_head');
  const [l1, l2, l3] = spec.outputs;
  const gridHW = g.node('Slice', [g.node('Shape', [l1]), g.int64s('hw_start', [2]), g.int64s('hw_end', [4])]);
  const ncStart = g.int64s('nc_start', [0]);
  const ncEnd = g.int64s('nc_end', [2]);
  const toGrid = (x: string): string => {
    const sizes = g.node('Concat', [g.node('Slice', [g.node('Shape', [x]), ncStart, ncEnd]), gridHW], { axis: 0 });
    return g.node('Resize', [x, '', '', sizes], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
  };
  let d: number;
  if (selection.kind === 'indices') {
    const indices = validateChannelIndices(selection.indices, F);
    d = indices.length;
    // Each layer's chosen channels are gathered before they are upsampled (nearest resizing and taking
    // channels commute, so the values are the same): the full 1792-channel map of resnet50 at batch 8
    // (235 MB, plus its upsampled parts) never exists, only the d channels kept.
    const layers = [l1, l2, l3];
    const parts: string[] = [];
    const order: number[] = [];
    let first = 0;
    layers.forEach((layer, i) => {
      const local: number[] = [];
      indices.forEach((f, k) => {
        if (f >= first && f < first + spec.channels[i]) {
          local.push(f - first);
          order.push(k);
        }
      });
      first += spec.channels[i];
      if (local.length === 0) return;
      const picked = g.node('Gather', [layer, g.int64s(`indices_${i + 1}`, local)], { axis: 1 });
      parts.push(i === 0 ? picked : toGrid(picked));
    });
    // order[j] is where the j-th concatenated channel goes; the last Gather puts them back in `indices`' order.
    const position = new Array<number>(d);
    order.forEach((k, j) => (position[k] = j));
    const inOrder = position.every((j, k) => j === k);
    const grouped = parts.length === 1 ? parts[0] : g.node('Concat', parts, { axis: 1 }, inOrder ? [EMBEDDING_OUTPUT] : undefined);
    if (!inOrder) g.node('Gather', [grouped, g.int64s('indices', position)], { axis: 1 }, [EMBEDDING_OUTPUT]);
    else if (parts.length === 1) g.node('Identity', [grouped], {}, [EMBEDDING_OUTPUT]);
  } else {
    const features = g.node('Concat', [l1, toGrid(l2), toGrid(l3)], { axis: 1 });
    d = selection.d;
    if (!Number.isInteger(d) || d < 1 || selection.matrix.length !== F * d) {
      throw new Error(`appendEmbeddingHead: projection matrix has ${selection.matrix.length} values, expected F×d = ${F}×${d}`);
    }
    // Conv weight [d, F, 1, 1] is the transpose of the [F, d] matrix.
    const weight = new Float32Array(d * F);
    for (let f = 0; f < F; f++) for (let k = 0; k < d; k++) weight[k * F + f] = selection.matrix[f * d + k];
    g.node('Conv', [features, g.initializer('projection', weight, [d, F, 1, 1])], { kernel_shape: [1, 1] }, [EMBEDDING_OUTPUT]);
  }

  const layer1Dims = outputs.find((o) => o.name === l1)!.type?.tensorType?.shape?.dim ?? [];
  const dim = (i: number, fallback: string) => {
    const v = layer1Dims[i];
    return v?.dimParam ? v.dimParam : v?.dimValue ? Number(v.dimValue) : fallback;
  };
  g.output(EMBEDDING_OUTPUT, 'float', [dim(0, 'N'), d, dim(2, 'h'), dim(3, 'w')]);

  const head = g.toModelProto().graph!;
  mergeGraph(graph, head, HEAD_PREFIX, [EMBEDDING_OUTPUT], 'append');
  graph.output = head.output;
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Adds `part`'s nodes and initializers to `graph`, before its nodes ('prepend': `part` feeds the graph) or
 * after them ('append': `part` reads the graph's values). `part`'s internal names get `prefix`, except
 * those in `keep` (the values that connect the two); its inputs that `graph` produces connect by name,
 * and on 'prepend' its inputs become the graph's.
 */
export function mergeGraph(graph: onnx.IGraphProto, part: onnx.IGraphProto, prefix: string, keep: string[], where: 'append' | 'prepend'): void {
  const internal = new Set<string>([...(part.initializer ?? []).map((t) => t.name!), ...(part.node ?? []).flatMap((n) => n.output ?? [])]);
  for (const name of keep) internal.delete(name);
  const rename = (name: string) => (internal.has(name) ? prefix + name : name);

  const taken = new Set<string>([
    ...(graph.input ?? []).map((v) => v.name!),
    ...(graph.initializer ?? []).map((t) => t.name!),
    ...(graph.node ?? []).flatMap((n) => n.output ?? []),
  ]);
  const added = [...keep, ...[...internal].map(rename), ...(where === 'prepend' ? (part.input ?? []).map((v) => v.name!) : [])];
  for (const name of added) {
    if (taken.has(name)) throw new Error(`merging ${part.name ?? 'a graph'}: the graph already has a value named "${name}"`);
  }

  for (const t of part.initializer ?? []) t.name = rename(t.name!);
  for (const n of part.node ?? []) {
    n.name = prefix + n.name;
    n.input = (n.input ?? []).map(rename);
    n.output = (n.output ?? []).map(rename);
  }
  graph.node = where === 'append' ? [...(graph.node ?? []), ...(part.node ?? [])] : [...(part.node ?? []), ...(graph.node ?? [])];
  graph.initializer = [...(graph.initializer ?? []), ...(part.initializer ?? [])];
  if (where === 'prepend') graph.input = [...(part.input ?? []), ...(graph.input ?? [])];
}
