import { onnx } from 'onnx-proto';
import { ModelManifest, Normalization, PixelImage, featureCount, tensorSide, writeNormalizedChw } from '@padim-fleet/padim-core';
import type { ResolvedBackbone } from '../backbones/resolve-backbone';
import type { ModelTensors } from '../model-io/model-folder';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { channelSelectionOf } from '../pipeline/embedding-extractor';
import { ANOMALY_MAP_SIGMA } from '../pipeline/padim-scorer';
import { addAnomalyMapNodes } from './anomaly-map-graph';
import { EMBEDDING_OUTPUT, appendEmbeddingHead, mergeGraph } from './embedding-graph';
import { addMahalanobisNodes, unpackLowerTriangular } from './mahalanobis-graph';

export const SCORER_IMAGE_INPUT = 'image';
export const SCORER_MAP_OUTPUT = 'anomaly_map';
export const SCORER_SCORE_OUTPUT = 'score';
/** protobuf refuses messages of 2 GiB and more, and an ONNX file is one message. */
const MAX_ONNX_BYTES = 2 ** 31 - 1;
/** The value the backbone reads once the image is normalised inside the graph. */
const NORMALIZED_IMAGE = 'scorer_input/normalized_image';

/**
 * A trained model as one self-contained ONNX graph: input `image` [N, 3, side, side] float32 RGB pixels in
 * 0–255, already resized to `input.size` and centre-cropped to `input.crop` (what decodeImage + the crop
 * give); outputs `anomaly_map` [N, side, side] (Mahalanobis distance per patch, bilinear upsampling,
 * Gaussian blur σ=4) and `score` [N], the map's maximum. The backbone's normalisation, channel selection
 * or projection, means and inverse Cholesky factors (unpacked to [P, d, d]) are all inside.
 */
export function buildScorerGraph(manifest: ModelManifest, tensors: ModelTensors, backbone: ResolvedBackbone): Uint8Array {
  if (backbone.onnxSha256 !== manifest.backbone.onnxSha256) {
    throw new Error(
      `model was trained with backbone ${manifest.backbone.name} (graph ${manifest.backbone.onnxSha256.slice(0, 12)}…) but ${backbone.spec.name} (graph ${backbone.onnxSha256.slice(0, 12)}…) was given`,
    );
  }
  const d = manifest.embedding.d;
  const { grid } = manifest;
  const P = grid.height * grid.width;
  const side = tensorSide(manifest.input.size, manifest.input.crop ?? undefined);
  const factorBytes = P * d * d * 4;
  if (factorBytes + backbone.onnx.length >= MAX_ONNX_BYTES) {
    throw new Error(
      `the unpacked factors of ${P} positions at d=${d} take ${(factorBytes / 2 ** 30).toFixed(1)} GiB, beyond the 2 GiB an ONNX file can hold; export a model with a smaller d`,
    );
  }
  const model = onnx.ModelProto.decode(appendEmbeddingHead(backbone.onnx, backbone.spec, channelSelectionOf(manifest.embedding, featureCount(backbone.spec))));
  const graph = model.graph!;
  const opset = Number(model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);

  // Normalisation in front of the backbone: its input becomes an internal value fed by `image`.
  const inputName = backbone.spec.inputName;
  for (const n of graph.node ?? []) n.input = (n.input ?? []).map((name) => (name === inputName ? NORMALIZED_IMAGE : name));
  graph.input = (graph.input ?? []).filter((v) => v.name !== inputName);
  mergeGraph(graph, normalizationGraph(backbone, side), 'scorer_input/', [NORMALIZED_IMAGE], 'prepend');

  // Distances, map and score after the embedding head.
  const tail = new OnnxGraphBuilder('scorer_tail');
  const embedding = tail.input(EMBEDDING_OUTPUT, 'float', ['N', d, grid.height, grid.width]);
  const flat = tail.node('Reshape', [embedding, tail.int64s('flat_shape', [0, d, -1])]); // [N, d, P]
  const distance = addMahalanobisNodes(
    tail,
    flat,
    tail.initializer('mean', tensors.mean, [P, d, 1]),
    tail.initializer('inv_cholesky', unpackLowerTriangular(tensors.invCholesky, P, d), [P, d, d]),
  );
  const map = addAnomalyMapNodes(tail, distance, grid, side, ANOMALY_MAP_SIGMA);
  tail.node('Identity', [map], {}, [SCORER_MAP_OUTPUT]);
  // ReduceMax takes its axes as an input from opset 18, as an attribute before.
  if (opset >= 18) tail.node('ReduceMax', [map, tail.int64s('score_axes', [1, 2])], { keepdims: 0 }, [SCORER_SCORE_OUTPUT]);
  else tail.node('ReduceMax', [map], { axes: [1, 2], keepdims: 0 }, [SCORER_SCORE_OUTPUT]);
  tail.output(SCORER_MAP_OUTPUT, 'float', ['N', side, side]);
  tail.output(SCORER_SCORE_OUTPUT, 'float', ['N']);
  const tailGraph = tail.toModelProto().graph!;
  mergeGraph(graph, tailGraph, 'scorer_tail/', [SCORER_MAP_OUTPUT, SCORER_SCORE_OUTPUT], 'append');
  graph.output = tailGraph.output;
  graph.name = `padim_scorer_${manifest.category}`;
  model.producerName = 'padim-fleet';
  // What another runtime needs besides the graph: how to prepare the input, and where to draw the line.
  model.metadataProps = [
    { key: 'padim.category', value: manifest.category },
    {
      key: 'padim.input',
      value: JSON.stringify({
        size: manifest.input.size,
        crop: manifest.input.crop,
        layout: 'NCHW',
        channels: 'RGB',
        range: [0, 255],
        resize: 'bilinear (Pillow)',
      }),
    },
    { key: 'padim.thresholds', value: JSON.stringify(manifest.thresholds) },
  ];
  return onnx.ModelProto.encode(model).finish();
}

/** `image` (RGB, 0–255) → the backbone's normalised input: channel order, then x·scale/std − mean/std per channel (writeNormalizedChw). */
function normalizationGraph(backbone: ResolvedBackbone, side: number): onnx.IGraphProto {
  const { channelOrder, scale, mean, std } = backbone.spec.normalization;
  const g = new OnnxGraphBuilder('scorer_input');
  const image = g.input(SCORER_IMAGE_INPUT, 'float', ['N', 3, side, side]);
  const ordered = channelOrder === 'rgb' ? image : g.node('Gather', [image, g.int64s('bgr_order', [2, 1, 0])], { axis: 1 });
  const scaled = g.node('Mul', [
    ordered,
    g.initializer(
      'scale',
      Float32Array.from(std, (s) => scale / s),
      [1, 3, 1, 1],
    ),
  ]);
  g.node(
    'Sub',
    [
      scaled,
      g.initializer(
        'shift',
        Float32Array.from(mean, (m, c) => m / std[c]),
        [1, 3, 1, 1],
      ),
    ],
    {},
    [NORMALIZED_IMAGE],
  );
  return g.toModelProto().graph!;
}

/** Pixels as they are: what the scorer graph's `image` input takes. */
const RAW_RGB: Normalization = { channelOrder: 'rgb', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };

/**
 * The scorer graph's `image` input for images already at the model's input size: [N, 3, side, side]
 * float32 RGB in 0–255 (grey replicated, alpha dropped), centre-cropped to `side` when larger.
 */
export function scorerInputOf(images: PixelImage[], side: number): Float32Array {
  const out = new Float32Array(images.length * 3 * side * side);
  images.forEach((image, i) => writeNormalizedChw(image, RAW_RGB, out, i, image.width === side && image.height === side ? undefined : side));
  return out;
}
