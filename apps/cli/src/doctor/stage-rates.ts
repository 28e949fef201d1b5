import {
  EmbeddedImages,
  EmbeddingExtractor,
  OnnxDevice,
  FLOAT64_GROUP_IMAGES,
  PadimScorer,
  ResolvedBackbone,
  RuntimeOptions,
  accumulateImages,
  createGramSession,
  decodeImage,
  gramGroupImages,
  hostComomentPath,
  embedImages,
  finalizeInParallel,
  imageBatches,
  modelManifestBase,
  renderMaskPng,
  renderOverlayPng,
  runtimeThreads,
} from '@padim-fleet/inference';
import {
  EmbeddingSelection,
  Float32Gaussian,
  GaussianAccumulator,
  PixelImage,
  accumulateEmbeddingGroup,
  GramGroup,
  createGaussianAccumulator,
  createResidentGaussianAccumulator,
} from '@padim-fleet/padim-core';
import { StepRate, backboneRate, measureStep } from '../bench/bench-common';

/** Images per accumulation pass, as accumulateImages groups them for each co-moment path: the group size sets the cost per image. */
function groupImages(comoments: 'float64' | 'gram', positions: number, d: number): number {
  return comoments === 'gram' ? gramGroupImages(positions, d) : FLOAT64_GROUP_IMAGES;
}

/** What the stages run with: the same images, backbone, embedding and input size throughout. */
export interface StageSettings {
  backbone: ResolvedBackbone;
  selection: EmbeddingSelection;
  size: number;
  batchSize: number;
  runtime: RuntimeOptions;
}

/** A per-image stage's rate and the device it ran on. */
export interface StageRate extends StepRate {
  device: OnnxDevice;
}

export interface StageRates {
  decode: StageRate;
  backbone: StageRate;
  accumulate: StageRate & { comoments: 'float64' | 'gram' };
  /** Once per model, for the whole grid: wall and CPU seconds. */
  finalize: { seconds: number; cpuSeconds: number; device: OnnxDevice };
  mahalanobis: StageRate;
  anomalyMap: StageRate;
  /** The heatmap overlay and the mask, as padim score writes them per image. */
  png: StageRate;
  /** decode + backbone + accumulate, overlapped as training runs them. */
  trainingPipeline: StepRate;
}

export type StageName = keyof StageRates;

/**
 * Measures each stage of training and scoring alone on the same images, in the order listed by
 * StageRates, and reports each as it is measured. Only one accumulator is held at a time (5 GB for
 * resnet50 at d=550): the one measured alone is finalised and scored with, then let go before the
 * training pipeline fills its own.
 */
export async function measureStages(
  files: string[],
  settings: StageSettings,
  onStage: (name: StageName, rates: Partial<StageRates>) => void,
): Promise<StageRates> {
  const { backbone, selection, size, batchSize, runtime } = settings;
  const device = runtime.device ?? 'cpu';
  const rates: Partial<StageRates> = {};
  const report = <K extends StageName>(name: K, value: StageRates[K]) => {
    rates[name] = value;
    onStage(name, rates);
  };

  // Each stage runs once on the first image or batch before it is measured (wasm tier-up, thread pools, libvips).
  await decodeImage(files[0], { width: size, height: size });
  const pixels: PixelImage[] = [];
  const decode = await measureStep(
    () => pixels.length,
    async () => {
      for await (const batch of imageBatches(
        files.map((file) => ({ file })),
        { size, normalization: backbone.spec.normalization, batchSize, keepPixels: true },
      )) {
        const failure = batch.failures[0];
        if (failure) throw new Error(failure.error);
        pixels.push(...batch.pixels);
      }
    },
  );
  report('decode', { ...decode, device: 'cpu' });

  const extractor = await EmbeddingExtractor.create(backbone, selection, size, runtime);
  try {
    report('backbone', { ...(await backboneRate(extractor, files, batchSize, size)), device });
    const embedded = await embedImages(extractor, files, { size, batchSize });
    const { height, width } = extractor.grid;
    const comoments = hostComomentPath(height * width, selection.d);
    // Let go of (set to undefined) once used, so the training pipeline's own accumulator does not come on top.
    let acc: GaussianAccumulator | undefined = (comoments === 'gram' ? createGaussianAccumulator : createResidentGaussianAccumulator)(
      height * width,
      selection.d,
    );
    await accumulateInGroups(acc, { batches: embedded.batches.slice(0, 1), failures: [] }, comoments);
    report('accumulate', {
      ...(await measureStep(
        () => files.length,
        () => accumulateInGroups(acc!, embedded, comoments),
      )),
      device: 'cpu',
      comoments,
    });
    let gaussian: Float32Gaussian | undefined;
    // One model: its images/s is 1 / seconds and its CPU ms per image the CPU ms of the whole.
    const finalize = await measureStep(
      () => 1,
      async () => (gaussian = await finalizeInParallel(acc!, { regularization: 0.01, threads: runtimeThreads(runtime), inPlace: true })),
    );
    acc = undefined;
    report('finalize', { seconds: 1 / finalize.imagesPerSec, cpuSeconds: finalize.cpuMsPerImage / 1000, device: 'cpu' });

    const manifest = modelManifestBase({
      category: 'doctor',
      backbone,
      selection,
      size,
      crop: null,
      grid: extractor.grid,
      regularization: 0.01,
      imageCount: files.length,
      heldOutCount: 0,
      skipped: [],
    });
    const scorer = await PadimScorer.create(
      { ...manifest, tensors: undefined as never },
      { mean: gaussian!.mean, invCholesky: gaussian!.invCholesky },
      backbone,
      runtime,
      { extractor },
    );
    try {
      const first = embedded.batches[0];
      await scorer.anomalyMaps(await scorer.distancesFromEmbeddings(first.data, first.n), first.n);
      const distances: Float32Array[] = [];
      const mahalanobis = await measureStep(
        () => files.length,
        async () => {
          for (const b of embedded.batches) distances.push(await scorer.distancesFromEmbeddings(b.data, b.n));
        },
      );
      // The kernel on the CPU (a wasm kernel on this thread), onnxruntime on CUDA.
      report('mahalanobis', { ...mahalanobis, device });
      const maps: Float32Array[] = [];
      const anomalyMap = await measureStep(
        () => files.length,
        async () => {
          for (const [i, b] of embedded.batches.entries()) {
            const batchMaps = await scorer.anomalyMaps(distances[i], b.n);
            for (let k = 0; k < b.n; k++) maps.push(batchMaps.subarray(k * size * size, (k + 1) * size * size));
          }
        },
      );
      report('anomalyMap', { ...anomalyMap, device });
      await encodeHeatmaps(pixels.slice(0, 1), maps.slice(0, 1), size, 1);
      report('png', {
        ...(await measureStep(
          () => maps.length,
          () => encodeHeatmaps(pixels, maps, size, batchSize),
        )),
        device: 'cpu',
      });
    } finally {
      await scorer.release();
    }
    embedded.batches.length = 0;
    gaussian = undefined;

    let used = 0;
    const pipeline = await measureStep(
      () => used,
      async () => (used = (await accumulateImages(files, extractor, { size, batchSize })).used.length),
    );
    report('trainingPipeline', pipeline);
  } finally {
    await extractor.release();
  }
  return rates as StageRates;
}

/** The embeddings into `acc` by the trainer's path for their d, in its groups of images. */
async function accumulateInGroups(acc: GaussianAccumulator, embedded: EmbeddedImages, comoments: 'float64' | 'gram'): Promise<void> {
  const gramSession = comoments === 'gram' ? await createGramSession(acc.dim) : undefined;
  try {
    // The trainer's one group for the whole pass (its wasm memory sized once).
    const target = groupImages(comoments, acc.positions, acc.dim);
    const gramGroup = gramSession && new GramGroup(acc.positions, acc.dim, target);
    let group: { data: Float32Array; n: number }[] = [];
    let grouped = 0;
    const flush = async () => {
      if (gramGroup) await gramGroup.mergeInto(acc, gramSession.gram);
      else accumulateEmbeddingGroup(acc, group);
      group = [];
      grouped = 0;
    };
    for (const b of embedded.batches) {
      if (gramGroup && grouped + b.n > gramGroup.capacity) await flush();
      if (gramGroup) gramGroup.add(b.data, b.n);
      else group.push({ data: b.data, n: b.n });
      grouped += b.n;
      if (grouped >= target) await flush();
    }
    if (grouped > 0) await flush();
  } finally {
    await gramSession?.release();
  }
}

/** Each image's overlay and mask PNGs, `concurrency` images at a time; colours on the scale of these maps. */
async function encodeHeatmaps(pixels: PixelImage[], maps: Float32Array[], side: number, concurrency: number): Promise<void> {
  let min = Infinity;
  let max = -Infinity;
  for (const map of maps) {
    for (const v of map) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  const thresholds = { min, max, pixel: (min + max) / 2 };
  for (let start = 0; start < maps.length; start += concurrency) {
    await Promise.all(
      maps
        .slice(start, start + concurrency)
        .map((map, k) => Promise.all([renderOverlayPng(pixels[start + k], map, thresholds, side), renderMaskPng(map, thresholds.pixel, side)])),
    );
  }
}
