/**
 * npm run bench:finalize -- [--positions 64] [--rounds 3]: finalisation (Σ = M/(n−1) + 0.01·I, its
 * Cholesky factor and the factor's inverse, per position) on one thread, the wasm kernel against the
 * scalar path, alternating so that both see the same load. Synthetic co-moments of resnet18 d=100 and
 * resnet50 d=550 (`--positions` of them; the time scales with positions, so the whole 64×64 grid's
 * seconds are extrapolated). Checks that both give the same bits; the last line is JSON.
 */
import { finalizeGaussianFloat32, mulberry32, triangleSize, type GaussianAccumulator } from '@padim-fleet/padim-core';
import { round } from './bench-common';

const GRID_POSITIONS = 64 * 64;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Co-moments of a diagonally dominant covariance per position (positive definite), as after `count` samples. */
function syntheticAccumulator(positions: number, d: number, count: number): GaussianAccumulator {
  const rnd = mulberry32(d);
  const T = triangleSize(d);
  const comoment = new Float64Array(positions * T);
  for (let p = 0, k = 0; p < positions; p++) {
    for (let i = 0; i < d; i++) {
      comoment[k++] = (count - 1) * (1 + rnd());
      for (let j = i + 1; j < d; j++) comoment[k++] = ((count - 1) * (rnd() - 0.5)) / d;
    }
  }
  return { positions, dim: d, count, mean: new Float64Array(positions * d), comoment };
}

function msPerPosition(acc: GaussianAccumulator, wasm: boolean): { ms: number; factors: Float32Array } {
  const t = process.hrtime.bigint();
  const { invCholesky } = finalizeGaussianFloat32(acc, { wasm });
  return { ms: Number(process.hrtime.bigint() - t) / 1e6 / acc.positions, factors: invCholesky };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function main(): void {
  const positions = option('positions', 64);
  const rounds = option('rounds', 3);
  const results = [];
  for (const { backbone, d } of [
    { backbone: 'resnet18', d: 100 },
    { backbone: 'resnet50', d: 550 },
  ]) {
    // d=100 positions take a tenth of a millisecond: a whole grid, so each timing spans seconds.
    const acc = syntheticAccumulator(d <= 100 ? GRID_POSITIONS : positions, d, 256);
    const wasmMs: number[] = [];
    const scalarMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const wasm = msPerPosition(acc, true);
      const scalar = msPerPosition(acc, false);
      if (!Buffer.from(wasm.factors.buffer).equals(Buffer.from(scalar.factors.buffer)))
        throw new Error(`${backbone} d=${d}: the wasm kernel and the scalar path differ`);
      wasmMs.push(wasm.ms);
      scalarMs.push(scalar.ms);
      process.stdout.write(
        `${backbone} d=${d} round ${r + 1}: wasm ${round(wasm.ms, 3)} ms/position, scalar ${round(scalar.ms, 3)}, ratio ${round(scalar.ms / wasm.ms, 2)}\n`,
      );
    }
    const summary = {
      backbone,
      d,
      positions: acc.positions,
      wasmMsPerPosition: round(median(wasmMs), 3),
      scalarMsPerPosition: round(median(scalarMs), 3),
      speedup: round(median(scalarMs.map((s, i) => s / wasmMs[i])), 2),
      gridSecondsOneThread: { wasm: round((median(wasmMs) * GRID_POSITIONS) / 1000, 1), scalar: round((median(scalarMs) * GRID_POSITIONS) / 1000, 1) },
    };
    process.stdout.write(
      `${backbone} d=${d}: ${summary.wasmMsPerPosition} ms/position in wasm, ${summary.scalarMsPerPosition} scalar (median ratio ${summary.speedup}); ` +
        `a 64×64 grid on one thread: ${summary.gridSecondsOneThread.wasm} s, scalar ${summary.gridSecondsOneThread.scalar} s\n`,
    );
    results.push(summary);
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

main();
