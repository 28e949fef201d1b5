import * as path from 'node:path';
import {
  DEFAULT_HOLDOUT,
  EvaluationMetrics,
  evaluateModel,
  evaluationDistances,
  PadimScorer,
  scoreImages,
  splitHoldout,
  listMvtecTestSet,
  readModelFolder,
  resolveBackbone,
  resolveTrainingFiles,
  storedMetrics,
  trainModel,
  writeEvaluationReport,
  writeModelFolder,
} from '@padim-fleet/inference';
import { FalsePositives, ModelThresholds, ThresholdRule, falsePositivesAt, thresholdForRule } from '@padim-fleet/padim-core';
import { CommandSpec, numberOption, parseCommand, UsageError } from '../args';
import {
  ACCUMULATE_OPTIONS,
  MODEL_OPTIONS,
  RUNTIME_OPTIONS,
  accumulateFrom,
  backboneOptionsFrom,
  checkTrainingMemory,
  embeddingFrom,
  inputFrom,
  loadBackbone,
  runtimeFrom,
} from '../common-options';
import { progressBar } from '../progress-bar';

export const EVAL_COMMAND = {
  name: 'eval',
  summary: "image and pixel metrics on a category's test split",
  synopsis: '--data <MVTec category dir> (--model <dir> | [training options]) [--save-model <dir>] [--report <dir>] [--threshold-rules] [--json]',
  description:
    "Scores a category's test split and prints image/pixel AUROC, AUPRO@0.3 and F1-max; without --model it first trains on\n" +
    'train/good (all of it unless --holdout is given) with the options of padim train. The last line is JSON.\n' +
    '--threshold-rules holds out --holdout (default 0.1) of train/good and prints, per threshold rule, the threshold,\n' +
    'its false-positive rate on those held-out normal images and the recall on the test defects.\n' +
    '--report writes report.html with PNGs: ROC and PRO curves, score histograms per defect type, the worst cases.',
  options: {
    data: { type: 'string', value: 'dir', description: 'an MVTec-style category with test/ (and ground_truth/ for the pixel metrics) (required)' },
    model: { type: 'string', value: 'dir', description: 'the model folder to evaluate (default: train one first)' },
    'save-model': { type: 'string', value: 'dir', description: 'write the model trained here, with F1-optimal thresholds from the test split' },
    report: { type: 'string', value: 'dir', description: 'write report.html and its PNGs (ROC, PRO, score histograms, worst cases) into dir' },
    holdout: { type: 'string', value: 'fraction', description: 'share of train/good kept out of the fit when training here (default 0)' },
    'threshold-rules': { type: 'boolean', description: 'compare the threshold rules on held-out normal images and the test defects (trains here)' },
    json: { type: 'boolean', description: 'print only the JSON line' },
    ...MODEL_OPTIONS,
    ...RUNTIME_OPTIONS,
    ...ACCUMULATE_OPTIONS,
  },
  example: 'padim eval --model models/screw --data ../shared/datasets/mvtec-ad/screw',
} as const satisfies CommandSpec;

/** The rules --threshold-rules compares, besides the F1-optimal threshold on the test split. */
const COMPARED_RULES: { name: string; rule: ThresholdRule }[] = [
  { name: 'mean + 3σ', rule: { kind: 'sigma', k: 3 } },
  { name: 'fpr 0.01', rule: { kind: 'fpr', fpr: 0.01 } },
  { name: 'fpr 0.05', rule: { kind: 'fpr', fpr: 0.05 } },
];

export interface ThresholdRuleRow {
  rule: string;
  threshold: number;
  /** Held-out normal images at or above the threshold. */
  heldOutFalsePositives: FalsePositives;
  /** Fraction of the defective test images at or above the threshold. */
  defectRecall: number;
  warnings: string[];
}

/** Each rule's threshold from the held-out normal scores, and the F1-optimal one on the test split, measured the same way. */
export function thresholdRuleRows(heldOutScores: number[], test: { score: number; label: number }[], f1Threshold: number): ThresholdRuleRow[] {
  const defects = test.filter((t) => t.label === 1).map((t) => t.score);
  const row = (rule: string, threshold: number, warnings: string[]): ThresholdRuleRow => ({
    rule,
    threshold,
    heldOutFalsePositives: falsePositivesAt(heldOutScores, threshold),
    defectRecall: defects.filter((s) => s >= threshold).length / defects.length,
    warnings,
  });
  const rows = COMPARED_RULES.map(({ name, rule }) => {
    const { threshold, warnings } = thresholdForRule(heldOutScores, rule);
    return row(name, threshold, warnings);
  });
  rows.push(
    row('F1-optimal on test', f1Threshold, [
      'set on the test split it is measured on, so its recall is optimistic; a validation set apart from the test images gives a fair one',
    ]),
  );
  return rows;
}

export function thresholdRulesTable(rows: ThresholdRuleRow[]): string {
  const header = `  ${'rule'.padEnd(20)} ${'threshold'.padStart(9)} ${'held-out FPR'.padStart(12)} ${'FP / normals'.padStart(12)} ${'FPR ≤ (95 %)'.padStart(12)} ${'defect recall'.padStart(13)}`;
  const lines = rows.map((r) => {
    const fp = r.heldOutFalsePositives;
    const cells = [
      r.threshold.toFixed(3).padStart(9),
      fp.rate.toFixed(4).padStart(12),
      `${fp.count} / ${fp.of}`.padStart(12),
      fp.upper95.toFixed(4).padStart(12),
      r.defectRecall.toFixed(4).padStart(13),
    ];
    return `  ${r.rule.padEnd(20)} ${cells.join(' ')}`;
  });
  const warnings = rows.flatMap((r) => r.warnings.map((w) => `  ${r.rule}: ${w}`));
  return [header, ...lines, ...warnings].join('\n') + '\n';
}

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

/** F1-optimal thresholds on the evaluated split, as a validation set sets them. */
function testSplitThresholds(metrics: EvaluationMetrics): ModelThresholds {
  return {
    image: metrics.imageF1Threshold,
    // Without masks the pixel threshold is the image threshold, as for a validation set without them.
    pixel: metrics.pixelF1Threshold ?? metrics.imageF1Threshold,
    min: metrics.minScore,
    max: metrics.maxScore,
    rule: 'validation-f1',
    sampleCount: metrics.images,
  };
}

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, EVAL_COMMAND);
  if (!values.data) throw new UsageError(`--data is required (padim eval --help lists the options)`);
  const compareRules = values['threshold-rules'] === true;
  if (compareRules && values.model) throw new UsageError('--threshold-rules trains the model itself (the rules need the images it holds out): drop --model');
  const data = path.resolve(values.data);
  const testSet = await listMvtecTestSet(data);
  const runtime = runtimeFrom(values);
  const started = Date.now();
  let model;
  let backbone;
  let trainSeconds = 0;
  let heldOut: string[] = [];
  if (values.model) {
    model = await readModelFolder(path.resolve(values.model));
    backbone = await resolveBackbone(
      values.backbone && values.backbone.endsWith('.onnx') ? values.backbone : model.manifest.backbone.name,
      backboneOptionsFrom(values),
    );
  } else {
    backbone = await loadBackbone(values);
    process.stderr.write(checkTrainingMemory(backbone, values) ?? '');
    const { files } = await resolveTrainingFiles(data);
    const holdout = numberOption(values.holdout, 'holdout') ?? (compareRules ? DEFAULT_HOLDOUT : 0);
    // The same split trainModel makes: the images it keeps out of the fit.
    heldOut = splitHoldout(files, holdout).heldOut;
    process.stderr.write(`training on ${files.length - heldOut.length} images with ${backbone.spec.name}\n`);
    const trained = await trainModel({
      category: path.basename(data),
      files,
      backbone,
      embedding: embeddingFrom(values),
      ...inputFrom(values),
      holdout,
      runtime,
      batchSize: runtime.batchSize,
      ...accumulateFrom(values),
      onProgress: progressBar(),
      // Thresholds come from the evaluation below (F1-optimal on the test split), as anomalib does.
      skipThresholds: true,
    });
    trainSeconds = (Date.now() - started) / 1000;
    model = { manifest: { ...trained.manifest, tensors: undefined as never }, tensors: trained.tensors };
  }
  const scorer = await PadimScorer.create(model.manifest, model.tensors, backbone, runtime, {
    distances: evaluationDistances(model.manifest.grid.height * model.manifest.grid.width, model.manifest.embedding.d),
  });
  const evalStarted = Date.now();
  let metrics: EvaluationMetrics;
  let ruleRows: ThresholdRuleRow[] | undefined;
  try {
    const evaluation = await evaluateModel(scorer, testSet, { batchSize: runtime.batchSize, onProgress: progressBar(), keepMaps: values.report !== undefined });
    metrics = evaluation.metrics;
    if (values.report) {
      const dir = path.resolve(values.report);
      // A model trained here has no thresholds of its own: the report shows the F1-optimal ones of this test split.
      const thresholds = model.manifest.thresholds.rule === 'unset' ? testSplitThresholds(metrics) : model.manifest.thresholds;
      const files = await writeEvaluationReport(dir, {
        manifest: model.manifest,
        thresholds,
        metrics,
        results: evaluation.results,
        side: scorer.side,
        dataset: data,
      });
      for (const r of evaluation.results) delete r.map;
      process.stderr.write(`report written to ${path.join(dir, 'report.html')} (${files.map((f) => f.name).join(', ')})\n`);
    }
    if (compareRules) {
      if (heldOut.length === 0) throw new UsageError('--threshold-rules needs held-out images: --holdout above 0 and at least 10 training images');
      const normals = await scoreImages(
        scorer,
        heldOut.map((file) => ({ file })),
        { batchSize: runtime.batchSize, stage: 'threshold' },
      );
      const test = evaluation.results.filter((r) => r.error === undefined).map((r) => ({ score: r.score!, label: r.item.label }));
      ruleRows = thresholdRuleRows(
        normals.filter((r) => r.error === undefined).map((r) => r.score!),
        test,
        metrics.imageF1Threshold,
      );
    }
  } finally {
    await scorer.release();
  }
  const evalSeconds = (Date.now() - evalStarted) / 1000;
  const m = model.manifest;
  if (!values.model && values['save-model']) {
    const out = path.resolve(values['save-model']);
    const { tensors: _unused, ...manifest } = m;
    manifest.thresholds = testSplitThresholds(metrics);
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
    ...(ruleRows ? { heldOutNormals: heldOut.length, thresholdRules: ruleRows } : {}),
    trainImages: m.training.imageCount,
    trainSeconds: Number(trainSeconds.toFixed(2)),
    evalSeconds: Number(evalSeconds.toFixed(2)),
  };
  if (!values.json) {
    process.stdout.write(`${m.category} · ${m.backbone.name} · ${m.embedding.kind} d=${m.embedding.d} · ${m.input.size}px\n${metricsTable(metrics)}`);
    if (ruleRows)
      process.stdout.write(`threshold rules (${heldOut.length} held-out normal images, ${metrics.anomalous} test defects)\n${thresholdRulesTable(ruleRows)}`);
  } else if (metrics.pixelMetricsSkipped !== null) process.stderr.write(`no pixel metrics: ${metrics.pixelMetricsSkipped}\n`);
  process.stdout.write(JSON.stringify(summary) + '\n');
}
