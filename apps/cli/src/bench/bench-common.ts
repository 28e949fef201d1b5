import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { EmbeddingExtractor, findRepoRoot, imageBatches, resolveTrainingFiles } from '@padim-fleet/inference';

export function screwDir(): string {
  const shared = process.env.PADIM_SHARED_DIR ?? path.resolve(findRepoRoot() ?? process.cwd(), '../shared');
  return path.join(shared, 'datasets', 'mvtec-ad', 'screw');
}

export async function screwTrainFiles(): Promise<string[]> {
  return (await resolveTrainingFiles(screwDir())).files;
}

/** Backbone + embedding head alone, on batches decoded beforehand: the floor every pipeline is measured against. */
export async function backboneImagesPerSec(extractor: EmbeddingExtractor, files: string[], batchSize: number, size: number): Promise<number> {
  const batches: { tensor: Float32Array; n: number }[] = [];
  for await (const b of imageBatches(files.map((file) => ({ file })), { size, normalization: extractor.backbone.spec.normalization, batchSize })) {
    batches.push({ tensor: b.tensor.slice(), n: b.n });
  }
  await extractor.run(batches[0].tensor, batches[0].n); // warm-up
  const started = process.hrtime.bigint();
  let images = 0;
  for (const b of batches) {
    await extractor.run(b.tensor, b.n);
    images += b.n;
  }
  return images / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** Runs this script again in a child process with `args` and returns the JSON it prints last. */
export function runChild(script: string, args: string[]): Record<string, number> {
  const out = execFileSync(process.execPath, [script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

export function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export function round(x: number, digits = 3): number {
  return Number(x.toFixed(digits));
}
