import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { PixelImage, writeNormalizedChw } from '@padim-fleet/padim-core';
import { resolveBackbone } from '../backbones/resolve-backbone';
import { decodeImage } from '../images/decode-image';
import { PadimScorer } from '../pipeline/padim-scorer';
import { trainModel } from '../pipeline/train-model';
import { createOnnxSession } from '../runtime/onnx-session';
import { describeWithShared, sharedPath } from '../testing/shared-data';
import { SCORER_IMAGE_INPUT, SCORER_MAP_OUTPUT, SCORER_SCORE_OUTPUT, buildScorerGraph, scorerInputOf } from './scorer-graph';

const screw = (...parts: string[]) => sharedPath('datasets', 'mvtec-ad', 'screw', ...parts);

async function firstImages(dir: string, n: number): Promise<string[]> {
  return (await fs.readdir(dir))
    .filter((f) => f.endsWith('.png'))
    .sort()
    .slice(0, n)
    .map((f) => path.join(dir, f));
}

describeWithShared('buildScorerGraph on MVTec screw (resnet18, d=100)', () => {
  jest.setTimeout(10 * 60 * 1000);

  it('gives the maps and scores of PadimScorer within 1e-3 relative, from raw RGB pixels', async () => {
    const backbone = await resolveBackbone('resnet18', { resnet18Dir: sharedPath('backbones', 'resnet18-torchvision') });
    // A small fit is enough: the graph must compute what the scorer computes, whatever the model.
    const trainFiles = await firstImages(screw('train', 'good'), 16);
    const trained = await trainModel({ category: 'screw', files: trainFiles, backbone, embedding: { d: 100, seed: 42 }, holdout: 0, skipThresholds: true });
    const manifest = { ...trained.manifest, tensors: undefined as never };
    const side = manifest.input.size;
    const testFiles = [
      ...(await firstImages(screw('test', 'good'), 2)),
      ...(await firstImages(screw('test', 'scratch_head'), 2)),
      ...(await firstImages(screw('test', 'thread_side'), 2)),
    ];
    const pixels: PixelImage[] = await Promise.all(testFiles.map((f) => decodeImage(f, { width: side, height: side })));
    const n = pixels.length;

    const scorer = await PadimScorer.create(manifest, trained.tensors, backbone);
    let expectedMaps: Float32Array;
    try {
      const batch = new Float32Array(n * 3 * side * side);
      pixels.forEach((p, i) => writeNormalizedChw(p, backbone.spec.normalization, batch, i));
      expectedMaps = await scorer.anomalyMaps(await scorer.patchDistances(batch, n), n);
    } finally {
      await scorer.release();
    }

    const session = await createOnnxSession(buildScorerGraph(manifest, trained.tensors, backbone));
    const out = await session.run({ [SCORER_IMAGE_INPUT]: new ort.Tensor('float32', scorerInputOf(pixels, side), [n, 3, side, side]) });
    await session.release();
    expect(out[SCORER_MAP_OUTPUT].dims).toEqual([n, side, side]);
    expect(out[SCORER_SCORE_OUTPUT].dims).toEqual([n]);
    const maps = out[SCORER_MAP_OUTPUT].data as Float32Array;
    const scores = out[SCORER_SCORE_OUTPUT].data as Float32Array;

    let worst = 0;
    const plane = side * side;
    for (let i = 0; i < n; i++) {
      const expected = expectedMaps.subarray(i * plane, (i + 1) * plane);
      const actual = maps.subarray(i * plane, (i + 1) * plane);
      const expectedMax = Math.max(...expected);
      let maxDiff = 0;
      for (let k = 0; k < plane; k++) maxDiff = Math.max(maxDiff, Math.abs(actual[k] - expected[k]));
      worst = Math.max(worst, maxDiff / expectedMax);
      expect(Math.abs(scores[i] - expectedMax) / expectedMax).toBeLessThan(1e-3);
    }
    process.stdout.write(`scorer graph vs PadimScorer: largest map difference ${worst.toExponential(2)} of the image's maximum\n`);
    expect(worst).toBeLessThan(1e-3);
  });
});
