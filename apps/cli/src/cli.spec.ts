import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import * as yazl from 'yazl';
import sharp from 'sharp';
import type { ScoreRow, ScoringSummary } from '@padim-fleet/compute';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as ort from 'onnxruntime-node';
import { openModelArchive, publishModel } from '@padim-fleet/fleet';
import { decodeImage, generateSyntheticDataset, listImagesRecursive, readModelFolder, scorerInputOf } from '@padim-fleet/inference';
import { LocalBlobStore, ModelRegistry } from '@padim-fleet/storage';
import { describeWithShared, sharedPath } from '../../../libs/inference/src/testing/shared-data';
import { main } from './cli';

/** Runs the CLI in process and returns its exit code and what it printed. */
async function padim(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

// ResNet-50 from the npm package needs nothing from ../shared; a small input keeps the suite quick.
const FAST = ['--backbone', 'resnet50', '--d', '24', '--size', '96'];

interface Entry {
  name: string;
  data: Buffer;
}

async function zipOf(entries: Entry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) zip.addBuffer(e.data, e.name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function tarGzOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: 'file', mtime: new Date(0) }, e.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return zlib.gzipSync(Buffer.concat(chunks));
}

async function readRows(out: string): Promise<ScoreRow[]> {
  const text = await fs.readFile(path.join(out, 'results.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ScoreRow);
}

describe('padim CLI (in process, ResNet-50 from npm, generated data)', () => {
  jest.setTimeout(180_000);
  let work: string;
  let data: string;

  let training: Promise<{ code: number; stderr: string }> | undefined;
  /** The model trained on the generated category, trained once by whichever test needs it first. */
  const modelDir = () => path.join(work, 'model');
  const trained = async () => {
    const r = await (training ??= padim('train', '--data', data, '--out', modelDir(), ...FAST));
    expect(r).toMatchObject({ code: 0 });
    return modelDir();
  };

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-cli-'));
    data = path.join(work, 'woven');
    await generateSyntheticDataset(data, { size: 96, train: 14, testGood: 4, testPerDefect: 3, seed: 3 });
  });
  afterAll(() => fs.rm(work, { recursive: true, force: true }));

  it('trains past unreadable files, reporting each, and writes a loadable model', async () => {
    const folder = path.join(work, 'mixed');
    await fs.cp(path.join(data, 'train', 'good'), folder, { recursive: true });
    await fs.writeFile(path.join(folder, 'notes.txt'), 'not an image');
    await fs.writeFile(path.join(folder, 'empty.png'), '');
    const png = await fs.readFile(path.join(folder, '000.png'));
    await fs.writeFile(path.join(folder, 'cut.png'), png.subarray(0, 200));
    const out = path.join(work, 'model-mixed');
    const r = await padim('train', '--data', folder, '--out', out, ...FAST);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/notes\.txt: not a supported image/);
    expect(r.stderr).toMatch(/empty\.png: /);
    expect(r.stderr).toMatch(/cut\.png: /);
    const { manifest } = await readModelFolder(out);
    expect(manifest.training.skipped.map((s) => path.basename(s.file)).sort()).toEqual(['cut.png', 'empty.png', 'notes.txt']);
    expect(manifest.training.imageCount + manifest.training.heldOutCount).toBe(14);
    expect(manifest.thresholds.rule).toBe('holdout-mean-3std');
  });

  it('calibrates the threshold to a target false-positive rate and says when the held-out images cannot resolve it', async () => {
    const out = path.join(work, 'model-fpr');
    const r = await padim('train', '--data', data, '--out', out, '--threshold-fpr', '0.05', ...FAST);
    expect(r.code).toBe(0);
    // 14 images: 2 held out, so rates move in steps of 1/2
    expect(r.stdout).toMatch(/threshold [\d.]+ \(holdout-fpr 0\.05, 2 images\)/);
    expect(r.stdout).toMatch(/false positives 0 of 2 held-out normal images \(rate 0, at most 0\.776 with 95 % confidence\)/);
    expect(r.stdout).toMatch(/warning: fpr 0\.05 is finer than 2 normal images resolve \(steps of 1\/2 = 0\.5\).*20 or more images/);
    const { manifest } = await readModelFolder(out);
    expect(manifest.thresholds).toMatchObject({ rule: 'holdout-fpr', targetFpr: 0.05, falsePositives: { count: 0, of: 2, rate: 0 } });
    expect(manifest.thresholds.warnings).toHaveLength(1);
  });

  it('prints the threshold, held-out false-positive rate and defect recall of each rule', async () => {
    const r = await padim('eval', '--data', data, '--threshold-rules', ...FAST);
    expect(r.code).toBe(0);
    for (const rule of ['mean \\+ 3σ', 'fpr 0\\.01', 'fpr 0\\.05', 'F1-optimal on test'])
      expect(r.stdout).toMatch(new RegExp(`^  ${rule} +[\\d.]+ +[\\d.]+ +[\\d.]+`, 'm'));
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary.heldOutNormals).toBe(2);
    expect(summary.thresholdRules.map((t: { rule: string }) => t.rule)).toEqual(['mean + 3σ', 'fpr 0.01', 'fpr 0.05', 'F1-optimal on test']);
    const f1 = summary.thresholdRules[3];
    expect(f1.threshold).toBe(summary.imageF1Threshold);
    // 9 defective test images (3 defects × 3): recall is a multiple of 1/9
    for (const t of summary.thresholdRules) expect(Number.isInteger(Math.round(t.defectRecall * 9 * 1e9) / 1e9)).toBe(true);
  });

  it('fails with fewer than 2 usable images and leaves no model behind', async () => {
    const folder = path.join(work, 'mostly-bad');
    await fs.mkdir(folder);
    await fs.copyFile(path.join(data, 'train', 'good', '000.png'), path.join(folder, 'a.png'));
    await fs.writeFile(path.join(folder, 'b.png'), 'garbage');
    const out = path.join(work, 'model-none');
    const r = await padim('train', '--data', folder, '--out', out, ...FAST);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/training needs at least 2 usable images, got 1 of 2/);
    await expect(fs.access(out)).rejects.toThrow();
    expect((await fs.readdir(work)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('trains, evaluates and scores a generated category end to end, with heatmaps', async () => {
    const model = await trained();
    const evaluation = await padim('eval', '--data', data, '--model', model);
    expect(evaluation.code).toBe(0);
    const metrics = JSON.parse(evaluation.stdout.trim().split('\n').pop()!);
    expect(metrics.images).toBe(13);
    // Painted defects on a regular texture: a pretrained backbone separates them clearly.
    expect(metrics.imageAUROC).toBeGreaterThan(0.9);
    expect(metrics.pixelAUROC).toBeGreaterThan(0.9);

    const scores = path.join(work, 'scores');
    await fs.writeFile(path.join(work, 'broken.png'), 'nope');
    const r = await padim('score', '--model', model, '--out', scores, path.join(data, 'test'), path.join(work, 'broken.png'));
    expect(r.code).toBe(0);
    const rows = await readRows(scores);
    expect(rows).toHaveLength(14);
    const broken = rows.find((row) => row.file === 'broken.png')!;
    expect(broken.error).toMatch(/not a supported image/);
    expect(r.stderr).toMatch(/broken\.png: not a supported image/);
    const scored = rows.filter((row) => row.error === null);
    expect(scored).toHaveLength(13);
    for (const row of scored) {
      expect(row.file).toMatch(/^woven\/test\/[a-z]+\/\d+\.png$/);
      expect(row.normalizedScore).toBeGreaterThanOrEqual(0);
      expect(row.normalizedScore).toBeLessThanOrEqual(1);
      await expect(fs.stat(path.join(scores, row.heatmap!))).resolves.toBeTruthy();
      await expect(fs.stat(path.join(scores, row.mask!))).resolves.toBeTruthy();
    }
    const csv = await fs.readFile(path.join(scores, 'results.csv'), 'utf8');
    expect(csv.split('\n')[0]).toBe('file,score,normalizedScore,label,threshold,maxX,maxY,heatmap,mask,error');
    expect(csv.trim().split('\n')).toHaveLength(15);
    const summary = JSON.parse(await fs.readFile(path.join(scores, 'summary.json'), 'utf8')) as ScoringSummary;
    expect(summary).toMatchObject({ images: 14, scored: 13, failed: 1 });
    expect(r.stdout).toBe(`scored 13 images (${summary.anomalous} anomalous, 1 failed); results in ${path.join(scores, 'results.csv')}\n`);
  });

  it("exports a standalone ONNX scorer whose scores are padim score's, and imports a model archive into a folder or a store", async () => {
    const model = await trained();
    const onnxFile = path.join(work, 'scorer.onnx');
    const exported = await padim('export', '--model', model, '--out', onnxFile);
    expect(exported).toMatchObject({ code: 0, stdout: expect.stringMatching(/input "image" \[N, 3, 96, 96\] RGB 0-255/) });
    const images = (await listImagesRecursive(path.join(data, 'test'))).slice(0, 4);
    const scores = path.join(work, 'scores-export');
    expect((await padim('score', '--model', model, '--out', scores, '--no-heatmaps', ...images)).code).toBe(0);
    const rows = await readRows(scores);
    const session = await ort.InferenceSession.create(onnxFile);
    const pixels = await Promise.all(images.map((f) => decodeImage(f, { width: 96, height: 96 })));
    const out = await session.run({ image: new ort.Tensor('float32', scorerInputOf(pixels, 96), [images.length, 3, 96, 96]) });
    await session.release();
    const onnxScores = out.score.data as Float32Array;
    images.forEach((file, i) => {
      const row = rows.find((r) => file.endsWith(`/${r.file}`))!;
      expect(Math.abs(onnxScores[i] - row.score!) / row.score!).toBeLessThan(1e-3);
    });

    // A model archive as the API serves it, taken into a folder and into a store.
    const source = new ModelRegistry(new LocalBlobStore(path.join(work, 'source-store')));
    await publishModel(source, 'woven', 'v1', await readModelFolder(model));
    const archive = path.join(work, 'woven-v1.tar');
    await pipeline(await openModelArchive(source, 'woven', 'v1'), createWriteStream(archive));
    const folder = path.join(work, 'imported');
    expect(await padim('import', '--archive', archive, '--out', folder)).toMatchObject({ code: 0, stdout: `imported woven/v1 into ${folder}\n` });
    expect((await readModelFolder(folder)).tensors).toEqual((await readModelFolder(model)).tensors);
    expect(await padim('import', '--archive', archive, '--out', folder)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/already exists and is not empty/),
    });
    const storeDir = path.join(work, 'imported-store');
    expect((await padim('import', '--archive', archive, '--store', storeDir, '--promote')).code).toBe(0);
    expect(await new ModelRegistry(new LocalBlobStore(storeDir)).getCurrent('woven')).toBe('v1');

    // One flipped bit in the factors: refused, naming the file, and nothing written.
    const bytes = await fs.readFile(archive);
    const factorAt = bytes.lastIndexOf(Buffer.from('inv_cholesky.f32')); // its tar header, after the manifest that names it too
    bytes[factorAt + 512 + 100] ^= 1;
    await fs.writeFile(archive, bytes);
    const refused = await padim('import', '--archive', archive, '--out', path.join(work, 'imported-corrupt'));
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/inv_cholesky\.f32: SHA-256 .* does not match the manifest's/) });
    await expect(fs.stat(path.join(work, 'imported-corrupt'))).rejects.toThrow(/ENOENT/);
  });

  /** Width and height of a PNG, read from the file. */
  const pngSize = async (file: string) => {
    const meta = await sharp(file).metadata();
    expect(meta.format).toBe('png');
    return { width: meta.width, height: meta.height };
  };
  /** The worst-cases grid's size: 4 good and 4 defective rows of 192-pixel cells (96-pixel maps shown twice as large). */
  const gridSize = (columns: number) => ({ width: 2 * 12 + columns * 192 + (columns - 1) * 8, height: 2 * 12 + 28 + 8 * (24 + 192) + 7 * 14 });

  it('writes report.html with the ROC and PRO curves, score histograms and the worst cases as PNGs', async () => {
    const model = await trained();
    const report = path.join(work, 'report');
    const r = await padim('eval', '--data', data, '--model', model, '--report', report);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`report written to ${path.join(report, 'report.html')}`);
    expect((await fs.readdir(report)).sort()).toEqual(['pro.png', 'report.html', 'roc.png', 'score-histograms.png', 'worst-cases.png']);
    // Charts are drawn at twice their 420×360 (curves) and 340×200 per panel (histograms, two to a row) plot areas, axes and titles around them.
    for (const chart of ['roc.png', 'pro.png']) {
      const size = await pngSize(path.join(report, chart));
      expect(size.width).toBeGreaterThan(840);
      expect(size.width).toBeLessThan(1200);
      expect(size.height).toBeGreaterThan(720);
      expect(size.height).toBeLessThan(1000);
    }
    const histograms = await pngSize(path.join(report, 'score-histograms.png'));
    expect(histograms.width).toBeGreaterThan(2 * 2 * 340);
    expect(histograms.height).toBeGreaterThan(2 * 2 * 200); // three defect types: two rows of panels
    expect(await pngSize(path.join(report, 'worst-cases.png'))).toEqual(gridSize(4));

    const html = await fs.readFile(path.join(report, 'report.html'), 'utf8');
    for (const png of ['roc.png', 'pro.png', 'score-histograms.png', 'worst-cases.png']) expect(html).toContain(`<img src="${png}" width=`);
    const metrics = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(html).toContain(`<tr><th>image AUROC</th><td>${metrics.imageAUROC.toFixed(4)}</td></tr>`);
    expect(html).toContain(`<tr><th>AUPRO@0.3</th><td>${metrics.aupro.toFixed(4)}</td></tr>`);
    const { manifest } = await readModelFolder(model);
    expect(html).toContain(`<tr><th>rule</th><td>${manifest.thresholds.rule}, k = 3</td></tr>`);
    expect(html).toContain(`<tr><th>image threshold</th><td>${manifest.thresholds.image.toFixed(4)}</td></tr>`);
    expect(html).toContain('<tr><td>good</td><td>4</td><td>0</td><td>—</td><td>png</td><td>96×96</td></tr>');
    expect(html).toContain('<tr><td>scratch</td><td>3</td><td>0</td><td>3</td><td>png</td><td>96×96</td></tr>');
    expect(html).not.toContain('No PRO curve');
  });

  it('reports a category without masks, of JPEGs at odd sizes: no PRO curve or ground-truth column, and says so', async () => {
    const model = await trained();
    const copy = path.join(work, 'woven-jpeg');
    const test = path.join(data, 'test');
    for (const file of await listImagesRecursive(test)) {
      const to = path.join(copy, 'test', path.relative(test, file)).replace(/\.png$/, '.jpg');
      await fs.mkdir(path.dirname(to), { recursive: true });
      await sharp(file).resize(101, 77, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(to);
    }
    const report = path.join(work, 'report-no-masks');
    const r = await padim('eval', '--data', copy, '--model', model, '--report', report);
    expect(r.code).toBe(0);
    expect((await fs.readdir(report)).sort()).toEqual(['report.html', 'roc.png', 'score-histograms.png', 'worst-cases.png']);
    expect(await pngSize(path.join(report, 'worst-cases.png'))).toEqual(gridSize(3));
    const html = await fs.readFile(path.join(report, 'report.html'), 'utf8');
    expect(html).toContain('No pixel metrics, PRO curve or ground-truth column: no ground-truth masks for the 9 defective images');
    expect(html).toContain('No PRO curve: the test set has no ground-truth masks.');
    expect(html).not.toContain('pro.png');
    expect(html).toContain('<tr><th>pixel AUROC</th><td>n/a</td></tr>');
    expect(html).toContain('<tr><td>hole</td><td>3</td><td>0</td><td>0</td><td>jpeg</td><td>101×77</td></tr>');
  });

  it('scores .tar.gz and .zip archives entry by entry, as it scores the same images in a folder', async () => {
    const model = await trained();
    const test = path.join(data, 'test');
    const images = await listImagesRecursive(test);
    const good = images.map((f) => ({ name: path.relative(test, f).split(path.sep).join('/'), data: Buffer.alloc(0) }));
    for (const [i, e] of good.entries()) e.data = await fs.readFile(images[i]);
    const bad: Entry[] = [
      { name: 'bad/corrupt.png', data: good[0].data.subarray(0, 120) },
      { name: 'bad/empty.png', data: Buffer.alloc(0) },
      { name: 'notes.txt', data: Buffer.from('not an image') },
      { name: '__MACOSX/good/._000.png', data: Buffer.from('Finder metadata') },
    ];
    // The broken entries sit among the good ones, so batches differ from the folder's.
    const entries = [...good.slice(0, 5), ...bad, ...good.slice(5)];
    await fs.writeFile(path.join(work, 'test.tar.gz'), await tarGzOf(entries));
    await fs.writeFile(path.join(work, 'test.zip'), await zipOf(entries));

    const fromFolder = path.join(work, 'scores-folder');
    expect((await padim('score', '--model', model, '--out', fromFolder, test)).code).toBe(0);
    const folderRows = await readRows(fromFolder);
    expect(folderRows.map((r) => r.file).sort()).toEqual(good.map((e) => e.name).sort());

    const fromArchives = path.join(work, 'scores-archives');
    const r = await padim('score', '--model', model, '--out', fromArchives, path.join(work, 'test.tar.gz'), path.join(work, 'test.zip'));
    expect(r.code).toBe(0);
    const rows = await readRows(fromArchives);
    const expectedNames = (archive: string) => entries.filter((e) => !e.name.startsWith('__MACOSX/')).map((e) => `${archive}/${e.name}`);
    expect(rows.map((row) => row.file)).toEqual([...expectedNames('test.tar.gz'), ...expectedNames('test.zip')]);

    const byFile = new Map(rows.map((row) => [row.file, row]));
    for (const archive of ['test.tar.gz', 'test.zip']) {
      for (const f of folderRows) {
        const row = byFile.get(`${archive}/${f.file}`)!;
        expect(row.error).toBeNull();
        expect(row.score).toBe(f.score);
        expect(row.label).toBe(f.label);
        expect([row.maxX, row.maxY]).toEqual([f.maxX, f.maxY]);
        await expect(fs.stat(path.join(fromArchives, row.heatmap!))).resolves.toBeTruthy();
        await expect(fs.stat(path.join(fromArchives, row.mask!))).resolves.toBeTruthy();
      }
      expect(byFile.get(`${archive}/bad/corrupt.png`)!.error).toMatch(/corrupt or truncated image/);
      expect(byFile.get(`${archive}/bad/empty.png`)!.error).toMatch(/empty file \(0 bytes\)/);
      expect(byFile.get(`${archive}/notes.txt`)!.error).toMatch(/not a supported image/);
      expect(r.stderr).toContain(`error ${archive}/notes.txt: not a supported image`);
    }
    const heatmaps = rows.filter((row) => row.heatmap !== null).map((row) => row.heatmap);
    expect(new Set(heatmaps).size).toBe(2 * good.length);

    const summary = JSON.parse(await fs.readFile(path.join(fromArchives, 'summary.json'), 'utf8')) as ScoringSummary;
    expect(summary).toMatchObject({ images: 2 * (good.length + 3), scored: 2 * good.length, failed: 6 });
    expect(summary.anomalous + summary.normal).toBe(summary.scored);
    expect(summary.scored + summary.failed).toBe(summary.images);
    expect(summary.histogram.reduce((n, b) => n + b.count, 0)).toBe(summary.scored);
    expect(summary.anomalies).toHaveLength(summary.anomalous);
    expect(summary.errors.map((e) => e.file).sort()).toEqual(
      rows
        .filter((row) => row.error !== null)
        .map((row) => row.file)
        .sort(),
    );
    expect(r.stdout).toBe(
      `scored ${2 * good.length} images (${summary.anomalous} anomalous, 6 failed); results in ${path.join(fromArchives, 'results.csv')}\n`,
    );
  });

  it('refuses a hostile archive before scoring anything and writes nothing', async () => {
    const model = await trained();
    const png = await fs.readFile(path.join(data, 'test', 'good', '000.png'));
    const evil = path.join(work, 'evil.tar.gz');
    await fs.writeFile(
      evil,
      await tarGzOf([
        { name: 'fine.png', data: png },
        { name: '../evil.png', data: png },
      ]),
    );
    const out = path.join(work, 'scores-evil');
    const r = await padim('score', '--model', model, '--out', out, path.join(data, 'test', 'good'), evil);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^padim score: evil\.tar\.gz: entry "\.\.\/evil\.png" contains a \.\. segment/m);
    await expect(fs.access(path.join(out, 'results.csv'))).rejects.toThrow();
    await expect(fs.access(out)).rejects.toThrow();
  });

  it('names a missing input', async () => {
    const missing = path.join(work, 'no-such-folder');
    const r = await padim('score', '--model', path.join(work, 'any-model'), '--out', path.join(work, 'scores-missing'), missing);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${missing}: no such file or folder`);
  });

  it('rejects bad arguments with a usage error naming the option', async () => {
    expect((await padim('train')).stderr).toMatch(/--data is required/);
    const r = await padim('train', '--data', data, '--backbone', 'vgg99');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown backbone "vgg99"/);
    expect((await padim('train', '--data', data, '--d', 'many')).stderr).toMatch(/--d must be an integer/);
    expect((await padim('train', '--data', data, '--threshold-fpr', '1.5')).stderr).toMatch(/--threshold-fpr must be above 0 and below 1, got "1.5"/);
    expect((await padim('train', '--data', data, '--threshold-sigma', '0')).stderr).toMatch(/--threshold-sigma must be above 0, got "0"/);
    expect((await padim('train', '--data', data, '--threshold-fpr', '0.1', '--threshold-sigma', '2')).stderr).toMatch(
      /--threshold-fpr and --threshold-sigma are two rules: give one/,
    );
    expect((await padim('train', '--data', data, '--threshold-fpr', '0.1', '--validation', path.join(data, 'test'))).stderr).toMatch(
      /--threshold-fpr does not apply with --validation/,
    );
    expect((await padim('eval', '--data', data, '--model', path.join(work, 'any'), '--threshold-rules')).stderr).toMatch(
      /--threshold-rules trains the model itself/,
    );
    expect((await padim('frobnicate')).code).toBe(2);
  });
});

describe('padim --help', () => {
  it.each(['train', 'score', 'eval', 'demo'])('%s --help and -h print every option with a description and an example, exit 0', async (command) => {
    for (const flag of ['--help', '-h']) {
      const r = await padim(command, flag);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^usage: padim ${command}`));
      expect(r.stdout).toMatch(new RegExp(`\\nexample:\\n  padim ${command}`));
      const optionLines = r.stdout.split('\n').filter((line) => /^ {2}(-h, )?--[a-z]/.test(line));
      expect(optionLines.length).toBeGreaterThan(1);
      // Each option has its description on its own line.
      for (const line of optionLines) expect(line).toMatch(/^ {2}(-h, )?--[a-z0-9-]+( <[^>]+>)? {2,}\S/);
      expect(optionLines.some((line) => line.startsWith('  -h, --help'))).toBe(true);
    }
  });

  it('train --help lists every option train accepts', async () => {
    const { stdout } = await padim('train', '--help');
    for (const option of [
      '--data',
      '--category',
      '--out',
      '--backbone',
      '--d',
      '--seed',
      '--indices',
      '--embedding',
      '--size',
      '--crop',
      '--holdout',
      '--validation',
      '--device',
      '--threads',
      '--backbone-sessions',
      '--batch',
      '--accumulate',
      '--accumulate-group',
      '--resnet18-dir',
      '--cache-dir',
    ]) {
      expect(stdout).toMatch(new RegExp(`^  ${option} `, 'm'));
    }
  });

  it('the top level has --help and -h listing the commands, exit 0; no command is a usage error', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await padim(flag);
      expect(r.code).toBe(0);
      for (const command of ['train', 'score', 'eval', 'demo']) expect(r.stdout).toMatch(new RegExp(`^  ${command} {2,}\\S`, 'm'));
      expect(r.stdout).toMatch(/\nexample:\n {2}padim train/);
    }
    expect((await padim()).code).toBe(2);
  });

  it('an unknown option still fails with exit 2 naming it, --help or not', async () => {
    for (const argv of [
      ['train', '--bogus'],
      ['score', '--bogus', 'x'],
      ['eval', '--bogus', '--help'],
    ]) {
      const r = await padim(...argv);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/Unknown option '--bogus'/);
      expect(r.stderr).toMatch(/--help/);
    }
  });
});

describeWithShared('padim eval on a category without ground_truth/ (screw, image labels only)', () => {
  jest.setTimeout(180_000);
  const screw = sharedPath('datasets', 'mvtec-ad', 'screw');
  const resnet18 = ['--backbone', 'resnet18', '--d', '20', '--size', '64'];
  let work: string;

  /** A copy of a few screw images: train/good, test/good and test/<defect> as given, no ground_truth/ (folders list regular files only, not links). */
  async function screwCopy(name: string, test: Record<string, number>): Promise<string> {
    const dir = path.join(work, name);
    const copy = async (from: string, to: string, count: number) => {
      await fs.mkdir(path.join(dir, to), { recursive: true });
      const files = (await fs.readdir(path.join(screw, from))).sort().slice(0, count);
      for (const f of files) await fs.copyFile(path.join(screw, from, f), path.join(dir, to, f));
    };
    await copy('train/good', 'train/good', 8);
    for (const [folder, count] of Object.entries(test)) await copy(`test/${folder}`, `test/${folder}`, count);
    return dir;
  }

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-eval-'));
  });
  afterAll(() => fs.rm(work, { recursive: true, force: true }));

  it('reports the image metrics and null pixel metrics, with a line saying why', async () => {
    const data = await screwCopy('screw-no-masks', { good: 3, scratch_head: 3 });
    const r = await padim('eval', '--data', data, ...resnet18);
    expect(r.stderr).not.toMatch(/f1Max/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}pixel AUROC +n\/a$/m);
    expect(r.stdout).toContain('no pixel metrics: no ground-truth masks for the 3 defective images');
    const metrics = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(metrics).toMatchObject({ pixelAUROC: null, aupro: null, pixelF1: null, pixelF1Threshold: null, images: 6, anomalous: 3, failed: 0 });
    expect(metrics.imageAUROC).toBeGreaterThanOrEqual(0);
    expect(metrics.imageAUROC).toBeLessThanOrEqual(1);
    expect(metrics.pixelMetricsSkipped).toMatch(/^no ground-truth masks/);
  });

  it('fails with a clear message, before training, when the defect folders are empty or absent', async () => {
    for (const [name, test] of [
      ['screw-empty-defects', { good: 3, scratch_head: 0 }],
      ['screw-only-good', { good: 3 }],
    ] as const) {
      const data = await screwCopy(name, test);
      const r = await padim('eval', '--data', data, ...resnet18);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^padim eval: .*test: no defective images: .*; evaluation needs both good and defective images\n$/);
      expect(r.stderr).toContain(name === 'screw-only-good' ? 'no defect folder beside good/' : 'the defect folders (scratch_head/) hold no images');
    }
  });
});
