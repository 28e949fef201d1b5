/**
 * How pixels become a backbone's input: x = (pixel * scale - mean[c]) / std[c], channels in `channelOrder`.
 * torchvision: rgb, scale 1/255, ImageNet mean/std. Keras "caffe": bgr, scale 1, mean (103.939, 116.779, 123.68), std 1.
 */
export interface Normalization {
  channelOrder: 'rgb' | 'bgr';
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

/** A feature extractor: an ONNX graph with one NCHW float input and three feature outputs at strides 4, 8 and 16. */
export interface BackboneSpec {
  /** Stable name recorded in models, e.g. "resnet18" or "resnet50" or "onnx:<sha256 prefix>". */
  name: string;
  inputName: string;
  /** Output names for the three layers, shallowest first. */
  outputs: [string, string, string];
  channels: [number, number, number];
  strides: [number, number, number];
  normalization: Normalization;
}

export const TORCHVISION_NORMALIZATION: Normalization = {
  channelOrder: 'rgb',
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

export const KERAS_CAFFE_NORMALIZATION: Normalization = {
  channelOrder: 'bgr',
  scale: 1,
  mean: [103.939, 116.779, 123.68],
  std: [1, 1, 1],
};

export function featureCount(spec: Pick<BackboneSpec, 'channels'>): number {
  return spec.channels[0] + spec.channels[1] + spec.channels[2];
}

/** The patch grid of a model: its input side over the backbone's first stride, where the embedding is taken. */
export function patchGrid(spec: Pick<BackboneSpec, 'strides'>, side: number): { height: number; width: number } {
  const cells = Math.ceil(side / spec.strides[0]);
  return { height: cells, width: cells };
}
