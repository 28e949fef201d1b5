import * as path from 'node:path';
import {
  EvaluationMetrics,
  evaluateModel,
  PadimScorer,
  listMvtecTestSet,
  readModelFolder,
  resolveBackbone,
  resolveTrainingFiles,
  storedMetrics,
  trainModel,
  writeModelFolder,
} from '@padim-fleet/inference';
import { CommandSpec, numberOption, parseCommand, UsageError } from '../args';
import { MODEL_OPTIONS, RUNTIME_OPTIONS, backboneOptionsFrom, embeddingFrom, inputFrom, loadBackbone, runtimeFrom } from '../common-options';
import { progressBar } from '../progress-bar';

export const EVAL_COMMAND = {
  name: 'eval',
  summary: "image and pixel metrics on a category's test split",
  synopsis: '--data <MVTec category dir> (--model <dir> | [training options]) [--save-model <dir>] [--json]',
  description:
    "Scores a category's test split and prints image/pixel AUROC, AUPRO@0.3 and F1-max; without --model it first trains on\n" +
    'train/good (all of it unless --holdout is given) with the options of padim train. The last line is JSON.',
  options: {
    data: { type: 'string', value: 'dir', description: 'an MVTec-style category with test/ (and ground_truth/ for the pixel metrics) (required)' },
    model: { type: 'string', value: 'dir', description: 'the model folder to evaluate (default: train one first)' },
    'save-model': { type: 'string', value: 'dir', description: 'write the model trained here, with F1-optimal thresholds from the test split' },
    holdout: { type: 'string', value: 'fraction', description: 'share of train/good kept out of the fit when training here (default 0)' },
    json: { type: 'boolean', description: 'print only the JSON line' },
    ...MODEL_OPTIONS,
    ...RUNTIME_OPTIONS,
  },
  example: 'padim eval --model models/screw --data ../shared/datasets/mvtec-ad/screw',
} as const satisfies CommandSpec;

export function metricsTable(m: EvaluationMetrics): string {
  const value = (v: number | null) => (v === null ? 'n/a' : v.toFixed(4));
  const rows: [string, string][] = [
    ['image AUROC', value(m.imageAUROC)],
    ['pixel AUROC', value(m.pixelAUROC)],
    ['AUPRO@0.3', value(m.aupro)],
    ['image F1-max', value(m.imageF1)],
    ['pixel F1-max', value(m.pixelF1)],
    ['images', `${m.images} (${m.anomalous} anomalous, ${m.failed} failed)`],
  ];
  const table = rows.map(([k, v]) => `  ${k.padEnd(14)} ${v}`).join('\n') + '\n';
  return m.pixelMetricsSkipped === null ? table : `${table}  no pixel metrics: ${m.pixelMetricsSkipped}\n`;
}

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, EVAL_COMMAND);
  if (!values.data) throw new UsageError(`--data is required (padim eval --help lists the options)`);
  const data = path.resolve(values.data);
  const testSet = await listMvtecTestSet(data);
  const runtime = runtimeFrom(values);
  const started = Date.now();
  let model;
  let backbone;
  let trainSeconds = 0;
  if (values.model) {
    model = await readModelFolder(path.resolve(values.model));
    backbone = await resolveBackbone(values.backbone && values.backbone.endsWith('.onnx') ? values.backbone : model.manifest.backbone.name, backboneOptionsFrom(values));
  } else {
    backbone = await loadBackbone(values);
    const { files } = await resolveTrainingFiles(data);
    process.stderr.write(`training on ${files.length} images with ${backbone.spec.name}\n`);
    const trained = await trainModel({
      category: path.basename(data),
      files,
      backbone,
      embedding: embeddingFrom(values),
      ...inputFrom(values),
      holdout: numberOption(values.holdout, 'holdout') ?? 0,
      runtime,
      batchSize: runtime.batchSize,
      onProgress: progressBar(),
      // Thresholds come from the evaluation below (F1-optimal on the test split), as anomalib does.
      skipThresholds: true,
    });
    trainSeconds = (Date.now() - started) / 1000;
    model = { manifest: { ...trained.manifest, tensors: undefined as never }, tensors: trained.tensors };
  }
  const scorer = await PadimScorer.create(model.manifest, model.tensors, backbone, runtime);
  const evalStarted = Date.now();
  let metrics: EvaluationMetrics;
  try {
    ({ metrics } = await evaluateModel(scorer, testSet, { batchSize: runtime.batchSize, onProgress: progressBar() }));
  } finally {
    await scorer.release();
  }
  const evalSeconds = (Date.now() - evalStarted) / 1000;
  const m = model.manifest;
  if (!values.model && values['save-model']) {
    const out = path.resolve(values['save-model']);
    const { tensors: _unused, ...manifest } = m;
    manifest.thresholds = {
      image: metrics.imageF1Threshold,
      // Without masks the pixel threshold is the image threshold, as for a validation set without them.
      pixel: metrics.pixelF1Threshold ?? metrics.imageF1Threshold,
      min: metrics.minScore,
      max: metrics.maxScore,
      rule: 'validation-f1',
      sampleCount: metrics.images,
    };
    manifest.metrics = storedMetrics(metrics);
    await writeModelFolder(out, manifest, model.tensors);
    process.stderr.write(`model written to ${out}\n`);
  }
  const summary = {
    category: m.category,
    backbone: m.backbone.name,
    embedding: m.embedding.kind,
    d: m.embedding.d,
    seed: m.embedding.seed,
    size: m.input.size,
    crop: m.input.crop,
    ...metrics,
    trainImages: m.training.imageCount,
    trainSeconds: Number(trainSeconds.toFixed(2)),
    evalSeconds: Number(evalSeconds.toFixed(2)),
  };
  if (!values.json) process.stdout.write(`${m.category} · ${m.backbone.name} · ${m.embedding.kind} d=${m.embedding.d} · ${m.input.size}px\n${metricsTable(metrics)}`);
  else if (metrics.pixelMetricsSkipped !== null) process.stderr.write(`no pixel metrics: ${metrics.pixelMetricsSkipped}\n`);
  process.stdout.write(JSON.stringify(summary) + '\n');
}
