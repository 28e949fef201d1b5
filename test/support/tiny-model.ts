import { COVARIANCE_REGULARIZATION, ModelManifest, ModelTensors, TORCHVISION_NORMALIZATION } from '@padim-fleet/padim-core';

/** A 2×3-grid, d=4 model: small, but a valid manifest with real tensors. */
export function tinyModel(): { manifest: Omit<ModelManifest, 'tensors'>; tensors: ModelTensors } {
  return {
    manifest: {
      format: 'padim-model',
      formatVersion: 1,
      category: 'screw',
      createdAt: '2026-01-01T00:00:00.000Z',
      backbone: {
        name: 'resnet18',
        outputs: ['layer1', 'layer2', 'layer3'],
        channels: [64, 128, 256],
        strides: [4, 8, 16],
        normalization: TORCHVISION_NORMALIZATION,
        onnxSha256: 'a'.repeat(64),
      },
      input: { size: 256, crop: null },
      grid: { height: 2, width: 3 },
      featureCount: 448,
      embedding: { kind: 'random', d: 4, seed: 42, indices: [1, 2, 3, 4] },
      regularization: COVARIANCE_REGULARIZATION,
      training: { imageCount: 10, heldOutCount: 2, skipped: [], seconds: 1 },
      thresholds: { image: 5, pixel: 5, min: 1, max: 9, rule: 'holdout-mean-3std', sampleCount: 2 },
    },
    tensors: { mean: Float32Array.from({ length: 24 }, (_, i) => i / 7), invCholesky: Float32Array.from({ length: 60 }, (_, i) => 1 + i / 11) },
  };
}
