import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  ModelCategoryDetail,
  ScoringStatus,
  TrainingStatus,
  modelCategoryDetail,
  modelCategoryList,
  modelPromoted,
  onlineScoreResponse,
  scoringStatus,
  scoringStatusList,
  submittedScoring,
  submittedTraining,
  trainingRunList,
  trainingStatus,
} from '@padim-fleet/contracts';
import { CommandSpec, HelpRequested, UsageError, choice, intOption, numberOption, parseCommand } from '../args';
import { progressBar } from '../progress-bar';
import { CONNECTION_OPTIONS, RemoteApi, remoteSettings } from '../remote/remote-api';
import { table } from '../remote/table';
import { thresholdRuleFrom } from './train.command';

/** How often a waiting command asks for the state of a run or scoring. */
const POLL_MS = 1000;

const JSON_OPTION = { json: { type: 'boolean', description: 'print the answer as JSON' } } as const;

export const REMOTE_TRAIN = {
  name: 'remote train',
  summary: 'train a model on the fleet and wait for the run to end',
  synopsis: '--category <name> --dataset <location> [options]',
  description:
    'Submits a training run (POST /v1/trainings) and waits until it ends: a progress bar on a terminal, one line per state\n' +
    'change otherwise. Exits non-zero when the run fails or is cancelled. With --detach prints the run id and returns.',
  options: {
    category: { type: 'string', value: 'name', description: 'the product line the model is for (required)' },
    dataset: { type: 'string', value: 'location', description: 'normal images: s3://bucket/prefix/, store:prefix/ or a server folder (required)' },
    validation: { type: 'string', value: 'dir', description: 'a labelled MVTec-style server folder: F1-optimal thresholds and metrics' },
    backbone: { type: 'string', value: 'resnet18|resnet50', description: 'the feature extractor (default resnet18)' },
    embedding: { type: 'string', value: 'random|semi-orthogonal', description: 'channel selection (default random)' },
    d: { type: 'string', value: 'n', description: 'channels kept per patch (default 100 for resnet18, 550 for resnet50)' },
    seed: { type: 'string', value: 'n', description: 'seed of the channel selection (default 42)' },
    size: { type: 'string', value: 'px', description: 'images are resized to size×size (default 256)' },
    crop: { type: 'string', value: 'px', description: 'then centre-cropped to crop×crop' },
    shards: { type: 'string', value: 'n', description: 'extract jobs (default one per extract worker online)' },
    holdout: { type: 'string', value: 'fraction', description: 'share of the images kept out of the fit to set the threshold (default 0.1)' },
    'threshold-sigma': { type: 'string', value: 'k', description: 'threshold at mean + k·std of the held-out scores (default 3)' },
    'threshold-fpr': { type: 'string', value: 'rate', description: 'threshold that leaves this fraction of the held-out normal images above it' },
    'base-version': { type: 'string', value: 'version', description: "extend this version's statistics with the new images" },
    promote: { type: 'string', value: 'true|false', description: 'make the new version current when it is published (default true)' },
    detach: { type: 'boolean', description: 'print the run id and return without waiting' },
    ...CONNECTION_OPTIONS,
  },
  example: 'padim remote train --category screw --dataset s3://images/screw/train/good/ --shards 4',
} as const satisfies CommandSpec;

export const REMOTE_RUNS = {
  name: 'remote runs',
  summary: 'the most recent training runs',
  synopsis: '[--limit <n>] [--json]',
  description: 'Lists the most recent training runs, newest first (GET /v1/trainings); --id shows one run in full.',
  options: {
    limit: { type: 'string', value: 'n', description: 'at most this many runs (default 20)' },
    id: { type: 'string', value: 'run-id', description: 'one run, with its shards and result' },
    ...JSON_OPTION,
    ...CONNECTION_OPTIONS,
  },
  example: 'padim remote runs --limit 10',
} as const satisfies CommandSpec;

export const REMOTE_MODELS = {
  name: 'remote models',
  summary: "the categories with models, or a category's versions",
  synopsis: '[category] [--json]',
  description:
    'Without a category: every category with its current version (GET /v1/models). With one: its versions, their\nthresholds and metrics, the current one marked * (GET /v1/models/:category).',
  options: { ...JSON_OPTION, ...CONNECTION_OPTIONS },
  example: 'padim remote models screw',
  positionals: true,
} as const satisfies CommandSpec;

export const REMOTE_PROMOTE = {
  name: 'remote promote',
  summary: 'make a version current',
  synopsis: '<category> <version>',
  description: 'Makes a version the one scoring uses by default (POST /v1/models/:category/versions/:version/promote).',
  options: { ...CONNECTION_OPTIONS },
  example: 'padim remote promote screw 20260101-120000-1a2b3c4d',
  positionals: true,
} as const satisfies CommandSpec;

export const REMOTE_SCORE = {
  name: 'remote score',
  summary: 'score images now with a category’s model',
  synopsis: '<category> <image...> [--version <v>] [--out <dir>]',
  description:
    'Sends images to the online scoring route (POST /v1/models/:category/score) and prints each score and label.\n' +
    'With --out the heatmap overlays and masks come back with the answer and are written there.',
  options: {
    version: { type: 'string', value: 'version', description: 'the model version (default the current one)' },
    out: { type: 'string', value: 'dir', description: 'write <image>.heatmap.png and <image>.mask.png here' },
    ...JSON_OPTION,
    ...CONNECTION_OPTIONS,
  },
  example: 'padim remote score screw part-0001.png part-0002.png --out heatmaps/',
  positionals: true,
} as const satisfies CommandSpec;

export const REMOTE_SCORE_BATCH = {
  name: 'remote score-batch',
  summary: 'score an archive or a prefix of images on the fleet and wait',
  synopsis: '<category> <archive file | s3://… | store:…> [options]',
  description:
    'Submits a batch scoring: a local .zip/.tar/.tar.gz is uploaded (POST /v1/scorings/upload), an s3:// or store:\n' +
    'location is read by the fleet (POST /v1/scorings). Waits until it ends unless --detach; prints the scoring id.\n' +
    '`padim remote scorings --id <id> --results results.csv` downloads its results.',
  options: {
    version: { type: 'string', value: 'version', description: 'the model version (default the current one)' },
    'chunk-size': { type: 'string', value: 'n', description: 'images per chunk job (default 64)' },
    detach: { type: 'boolean', description: 'print the scoring id and return without waiting' },
    ...CONNECTION_OPTIONS,
  },
  example: 'padim remote score-batch screw s3://images/screw/2026-01-02/',
  positionals: true,
} as const satisfies CommandSpec;

export const REMOTE_SCORINGS = {
  name: 'remote scorings',
  summary: 'batch scorings, one in full, or its results',
  synopsis: '[--id <scoring-id> [--results <file.csv|file.jsonl|summary.json>]] [--json]',
  description:
    'Lists the most recent batch scorings (GET /v1/scorings); --id shows one; --results downloads its results.csv,\n' +
    'results.jsonl or summary.json, chosen by the file name’s extension.',
  options: {
    id: { type: 'string', value: 'scoring-id', description: 'one scoring' },
    results: { type: 'string', value: 'file', description: 'download the results of --id here (.csv, .jsonl, or .json for summary.json)' },
    limit: { type: 'string', value: 'n', description: 'at most this many scorings (default 20)' },
    ...JSON_OPTION,
    ...CONNECTION_OPTIONS,
  },
  example: 'padim remote scorings --id 0b6c… --results results.csv',
} as const satisfies CommandSpec;

export const REMOTE_DOWNLOAD = {
  name: 'remote download',
  summary: 'download a model version as a tar archive',
  synopsis: '<category> <version> --out <file.tar>',
  description: 'Downloads a version as a model archive (GET /v1/models/:category/versions/:version/archive); `padim import` reads it.',
  options: {
    out: { type: 'string', value: 'file.tar', description: 'the archive to write (default <category>-<version>.tar)' },
    ...CONNECTION_OPTIONS,
  },
  example: 'padim remote download screw 20260101-120000-1a2b3c4d --out screw.tar',
  positionals: true,
} as const satisfies CommandSpec;

const SUBCOMMANDS: Record<string, { spec: CommandSpec; run: (argv: string[]) => Promise<void> }> = {
  train: { spec: REMOTE_TRAIN, run: remoteTrain },
  runs: { spec: REMOTE_RUNS, run: remoteRuns },
  models: { spec: REMOTE_MODELS, run: remoteModels },
  promote: { spec: REMOTE_PROMOTE, run: remotePromote },
  score: { spec: REMOTE_SCORE, run: remoteScore },
  'score-batch': { spec: REMOTE_SCORE_BATCH, run: remoteScoreBatch },
  scorings: { spec: REMOTE_SCORINGS, run: remoteScorings },
  download: { spec: REMOTE_DOWNLOAD, run: remoteDownload },
};

export const REMOTE_COMMAND = {
  name: 'remote',
  summary: 'drive a fleet through its API: train, runs, models, promote, score, scorings, download',
  synopsis: '<subcommand> [options]',
  description: "Talks to a fleet's HTTP API at PADIM_API_URL with the key PADIM_API_KEY (--api-url and --api-key override them).",
  options: {},
  example: 'PADIM_API_URL=http://fleet:3000 PADIM_API_KEY=… padim remote models',
} as const satisfies CommandSpec;

function remoteUsage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((n) => n.length)) + 2;
  const lines = Object.entries(SUBCOMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.spec.summary}`);
  return (
    `usage: padim remote <subcommand> [options]   (padim remote <subcommand> --help lists its options)\n${REMOTE_COMMAND.description}\n\n` +
    `subcommands:\n${lines.join('\n')}\n\nexample:\n  ${REMOTE_COMMAND.example}\n  ${REMOTE_TRAIN.example}\n`
  );
}

export async function remoteCommand(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') throw new HelpRequested(remoteUsage());
  if (!name) throw new UsageError(`a subcommand is required\n${remoteUsage()}`);
  const sub = SUBCOMMANDS[name];
  if (!sub) throw new UsageError(`unknown subcommand "${name}"\n${remoteUsage()}`);
  await sub.run(rest);
}

/** The body of POST /v1/trainings from the flags: only what is given, the API fills in its defaults (and checks every field). */
export function trainingBodyFrom(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const text = (name: string) => values[name] as string | undefined;
  if (!text('category') || !text('dataset')) throw new UsageError('--category and --dataset are required (padim remote train --help lists the options)');
  const body: Record<string, unknown> = {
    category: text('category'),
    dataset: text('dataset'),
    validation: text('validation'),
    backbone: choice(text('backbone'), 'backbone', ['resnet18', 'resnet50']),
    embedding: choice(text('embedding'), 'embedding', ['random', 'semi-orthogonal']),
    d: intOption(text('d'), 'd'),
    seed: intOption(text('seed'), 'seed', 0),
    size: intOption(text('size'), 'size'),
    crop: intOption(text('crop'), 'crop'),
    shards: intOption(text('shards'), 'shards'),
    holdout: numberOption(text('holdout'), 'holdout'),
    thresholdRule: thresholdRuleFrom(values as { 'threshold-fpr'?: string; 'threshold-sigma'?: string; validation?: string }),
    baseVersion: text('base-version'),
    promote: text('promote') === undefined ? undefined : choice(text('promote'), 'promote', ['true', 'false']) === 'true',
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

async function remoteTrain(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, REMOTE_TRAIN);
  const body = trainingBodyFrom(values);
  const api = new RemoteApi(remoteSettings(values));
  const run = await api.json('POST', '/v1/trainings', submittedTraining, body);
  for (const warning of run.warnings ?? []) process.stderr.write(`warning: ${warning}\n`);
  if (values.detach) {
    process.stdout.write(`${run.runId}\n`);
    return;
  }
  process.stderr.write(`run ${run.runId}: ${run.category}/${run.version}, ${run.images} images in ${run.shards} shard(s), ${run.heldOut} held out\n`);
  const status = await waitForRun(api, run.runId);
  if (status.state !== 'completed') throw new Error(`run ${run.runId} ${status.state}${status.error ? `: ${status.error}` : ''}`);
  const result = status.result;
  process.stdout.write(
    `run ${run.runId} completed: ${status.category}/${status.version}, ${result?.imageCount ?? status.imageCount} images in ${status.timings.totalSeconds?.toFixed(1) ?? '?'} s` +
      `${result?.current ? ', now current' : ', not made current'}\n`,
  );
}

/** Polls a run until it ends: the bar on a terminal, one line per state change otherwise (and on a terminal too). */
async function waitForRun(api: RemoteApi, runId: string): Promise<TrainingStatus> {
  const tty = process.stderr.isTTY === true;
  const bar = tty ? progressBar(process.stderr) : undefined;
  let lastState = '';
  for (;;) {
    const status = await api.json('GET', `/v1/trainings/${runId}`, trainingStatus);
    const state =
      status.state === 'running' && status.reduce.state === 'active'
        ? `running (reduce${status.reduce.stage ? `: ${status.reduce.stage}` : ''})`
        : status.state;
    if (state !== lastState) {
      if (tty) process.stderr.write('\r\x1b[K');
      process.stderr.write(`run ${runId}: ${state}\n`);
      lastState = state;
    }
    if (bar && status.state === 'running') {
      if (status.reduce.state === 'active' && status.reduce.total) bar({ stage: 'reduce', done: status.reduce.done ?? 0, total: status.reduce.total });
      else {
        const done = status.shards.reduce((a, s) => a + s.imagesDone, 0);
        const total = status.shards.reduce((a, s) => a + s.imagesTotal, 0);
        if (total > 0) bar({ stage: 'extract', done, total });
      }
    }
    if (status.state === 'completed' || status.state === 'failed' || status.state === 'cancelled') return status;
    await sleep(POLL_MS);
  }
}

async function remoteRuns(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, REMOTE_RUNS);
  const api = new RemoteApi(remoteSettings(values));
  if (values.id) {
    const status = await api.json('GET', `/v1/trainings/${encodeURIComponent(values.id)}`, trainingStatus);
    process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : describeRun(status));
    return;
  }
  const limit = intOption(values.limit, 'limit') ?? 20;
  const runs = await api.json('GET', `/v1/trainings?limit=${limit}`, trainingRunList);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    table(
      ['RUN', 'CATEGORY', 'VERSION', 'STATE', 'CREATED', 'ERROR'],
      runs.map((r) => [r.runId, r.category, r.version, r.state, r.createdAt, r.error ?? '']),
    ),
  );
}

function describeRun(s: TrainingStatus): string {
  const lines = [
    `run ${s.runId}: ${s.category}/${s.version} ${s.state}`,
    `  created ${s.createdAt}${s.finishedAt ? `, finished ${s.finishedAt}` : ''}; ${s.imageCount} images, ${s.heldOutCount} held out`,
    ...s.shards.map((sh) => `  shard ${sh.shard}: ${sh.state} ${sh.imagesDone}/${sh.imagesTotal}${sh.error ? ` (${sh.error})` : ''}`),
    `  reduce: ${s.reduce.state}${s.reduce.stage ? ` (${s.reduce.stage})` : ''}${s.reduce.error ? ` (${s.reduce.error})` : ''}`,
  ];
  if (s.timings.totalSeconds !== undefined) lines.push(`  took ${s.timings.totalSeconds.toFixed(1)} s`);
  if (s.result) lines.push(`  model ${s.result.category}/${s.result.version}${s.result.current ? ' (current)' : ''}`);
  if (s.error) lines.push(`  error: ${s.error}`);
  return `${lines.join('\n')}\n`;
}

async function remoteModels(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, REMOTE_MODELS);
  if (positionals.length > 1) throw new UsageError('at most one category (padim remote models [category])');
  const api = new RemoteApi(remoteSettings(values));
  const [category] = positionals;
  if (!category) {
    const list = await api.json('GET', '/v1/models', modelCategoryList);
    if (values.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    else
      process.stdout.write(
        table(
          ['CATEGORY', 'CURRENT', 'VERSIONS'],
          list.map((c) => [c.category, c.current ?? '-', String(c.versions)]),
        ),
      );
    return;
  }
  const detail = await api.json('GET', `/v1/models/${encodeURIComponent(category)}`, modelCategoryDetail);
  process.stdout.write(values.json ? `${JSON.stringify(detail, null, 2)}\n` : describeVersions(detail));
}

function describeVersions(detail: ModelCategoryDetail): string {
  const rows = detail.versions.map((v) => [
    v.current ? '*' : '',
    v.version,
    v.createdAt,
    `${v.backbone} d=${v.d}`,
    String(v.training.imageCount),
    `${v.thresholds.image.toFixed(3)} (${v.thresholds.rule})`,
    Object.entries(v.metrics ?? {})
      .map(([k, x]) => `${k}=${x === null ? '-' : x.toFixed(3)}`)
      .join(' '),
  ]);
  return `${detail.category}: current ${detail.current ?? '(none)'}\n${table(['', 'VERSION', 'CREATED', 'BACKBONE', 'IMAGES', 'THRESHOLD', 'METRICS'], rows)}`;
}

async function remotePromote(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, REMOTE_PROMOTE);
  if (positionals.length !== 2) throw new UsageError('give a category and a version (padim remote promote <category> <version>)');
  const [category, version] = positionals.map(encodeURIComponent);
  const api = new RemoteApi(remoteSettings(values));
  const answer = await api.json('POST', `/v1/models/${category}/versions/${version}/promote`, modelPromoted);
  process.stdout.write(`${answer.category}: current version is now ${answer.current}\n`);
}

async function remoteScore(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, REMOTE_SCORE);
  const [category, ...images] = positionals;
  if (!category || images.length === 0) throw new UsageError('give a category and at least one image (padim remote score <category> <image...>)');
  const api = new RemoteApi(remoteSettings(values));
  const form = new FormData();
  for (const image of images) form.append('images', new Blob([await fs.readFile(image)]), path.basename(image));
  const query = new URLSearchParams();
  if (values.version) query.set('version', values.version);
  // The PNGs come back in the answer: the links of an online scoring do not outlive it for long.
  if (values.out) query.set('inline', 'true');
  const route = `/v1/models/${encodeURIComponent(category)}/score${query.size > 0 ? `?${query}` : ''}`;
  const answer = await api.json('POST', route, onlineScoreResponse, form);
  if (values.out) {
    await fs.mkdir(values.out, { recursive: true });
    // Images of the same name from different folders get their position in the list, so that none overwrites another.
    const names = images.map((image) => path.parse(image).name);
    for (const [i, r] of answer.results.entries()) {
      const stem = path.join(values.out, names.indexOf(names[i]) === names.lastIndexOf(names[i]) ? names[i] : `${names[i]}-${i}`);
      if (r.heatmapPng) await fs.writeFile(`${stem}.heatmap.png`, Buffer.from(r.heatmapPng, 'base64'));
      if (r.maskPng) await fs.writeFile(`${stem}.mask.png`, Buffer.from(r.maskPng, 'base64'));
    }
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...answer, results: answer.results.map(({ heatmapPng: _h, maskPng: _m, ...r }) => r) }, null, 2)}\n`);
  } else {
    process.stdout.write(`model ${answer.category}/${answer.version}\n`);
    process.stdout.write(
      table(
        ['IMAGE', 'SCORE', 'NORMALIZED', 'LABEL', 'ERROR'],
        answer.results.map((r) => [r.file, r.score?.toFixed(3) ?? '-', r.normalizedScore?.toFixed(3) ?? '-', r.label ?? '-', r.error ?? '']),
      ),
    );
  }
  if (answer.results.some((r) => r.error)) throw new Error(`${answer.results.filter((r) => r.error).length} image(s) could not be scored`);
}

async function remoteScoreBatch(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, REMOTE_SCORE_BATCH);
  if (positionals.length !== 2) throw new UsageError('give a category and an input (padim remote score-batch <category> <archive | s3://… | store:…>)');
  const [category, input] = positionals;
  const chunkSize = intOption(values['chunk-size'], 'chunk-size');
  const api = new RemoteApi(remoteSettings(values));
  let submitted;
  if (/^(s3:\/\/|store:)/.test(input)) {
    submitted = await api.json('POST', '/v1/scorings', submittedScoring, {
      category,
      input,
      ...(values.version ? { version: values.version } : {}),
      ...(chunkSize ? { chunkSize } : {}),
    });
  } else {
    const form = new FormData();
    // The fields go first, so that the API checks the model before it stores the archive.
    form.append('category', category);
    if (values.version) form.append('version', values.version);
    if (chunkSize) form.append('chunkSize', String(chunkSize));
    form.append('archive', new Blob([await fs.readFile(input)]), path.basename(input));
    submitted = await api.json('POST', '/v1/scorings/upload', submittedScoring, form);
  }
  if (values.detach) {
    process.stdout.write(`${submitted.scoringId}\n`);
    return;
  }
  let lastState = '';
  let status: ScoringStatus;
  for (;;) {
    status = await api.json('GET', `/v1/scorings/${submitted.scoringId}`, scoringStatus);
    const line = `scoring ${status.scoringId}: ${status.state} ${status.imagesDone}/${status.images} images`;
    if (status.state !== lastState) process.stderr.write(`${line}\n`);
    lastState = status.state;
    if (status.state === 'completed' || status.state === 'failed') break;
    await sleep(POLL_MS);
  }
  if (status.state === 'failed') throw new Error(`scoring ${status.scoringId} failed${status.error ? `: ${status.error}` : ''}`);
  const s = status.summary;
  process.stdout.write(`${status.scoringId}\n`);
  if (s) process.stderr.write(`scored ${s.scored} of ${s.images} images: ${s.anomalous} anomalous, ${s.failed} failed\n`);
}

async function remoteScorings(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, REMOTE_SCORINGS);
  if (values.results && !values.id) throw new UsageError('--results needs --id (the scoring whose results to download)');
  const api = new RemoteApi(remoteSettings(values));
  if (values.id) {
    const id = encodeURIComponent(values.id);
    if (values.results) {
      const name = resultFileFor(values.results);
      const bytes = await api.download(`/v1/scorings/${id}/files/${name}`, values.results);
      process.stderr.write(`wrote ${values.results} (${name}, ${bytes} bytes)\n`);
      return;
    }
    const status = await api.json('GET', `/v1/scorings/${id}`, scoringStatus);
    process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : describeScoring(status));
    return;
  }
  const limit = intOption(values.limit, 'limit') ?? 20;
  const list = await api.json('GET', `/v1/scorings?limit=${limit}`, scoringStatusList);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    table(
      ['SCORING', 'CATEGORY', 'VERSION', 'STATE', 'IMAGES', 'ANOMALOUS', 'CREATED'],
      list.map((s) => [
        s.scoringId,
        s.category,
        s.version ?? '-',
        s.state,
        `${s.imagesDone}/${s.images}`,
        s.summary ? String(s.summary.anomalous) : '-',
        s.createdAt,
      ]),
    ),
  );
}

/** The result file a download asks for, by the extension of where it goes. */
export function resultFileFor(file: string): 'results.csv' | 'results.jsonl' | 'summary.json' {
  if (file.endsWith('.csv')) return 'results.csv';
  if (file.endsWith('.jsonl')) return 'results.jsonl';
  if (file.endsWith('.json')) return 'summary.json';
  throw new UsageError(`--results must end in .csv (results.csv), .jsonl (results.jsonl) or .json (summary.json), got "${file}"`);
}

function describeScoring(s: ScoringStatus): string {
  const lines = [`scoring ${s.scoringId}: ${s.category}/${s.version ?? '(current)'} ${s.state}, ${s.imagesDone}/${s.images} images, created ${s.createdAt}`];
  if (s.summary) lines.push(`  ${s.summary.scored} scored, ${s.summary.anomalous} anomalous, ${s.summary.failed} failed`);
  for (const c of s.chunks.filter((c) => c.error)) lines.push(`  chunk ${c.chunk}: ${c.error}`);
  if (s.error) lines.push(`  error: ${s.error}`);
  return `${lines.join('\n')}\n`;
}

async function remoteDownload(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, REMOTE_DOWNLOAD);
  if (positionals.length !== 2) throw new UsageError('give a category and a version (padim remote download <category> <version> --out <file.tar>)');
  const [category, version] = positionals;
  const out = values.out ?? `${category}-${version}.tar`;
  const api = new RemoteApi(remoteSettings(values));
  const bytes = await api.download(`/v1/models/${encodeURIComponent(category)}/versions/${encodeURIComponent(version)}/archive`, out);
  process.stdout.write(`wrote ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB)\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
