import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { MALLOC_HUGE_PAGES_TUNABLE, hugePagesContext, hugePagesRelaunchSkipped } from '@padim-fleet/contracts';

/** The built CLI: doctor is run as an operator runs it, exit code and streams included. */
const CLI = path.resolve(__dirname, '../../dist/main.js');

function doctor(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'doctor', ...args], { encoding: 'utf8', timeout: 170_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('padim doctor (the built CLI)', () => {
  jest.setTimeout(180_000);

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  });

  it('prints one JSON object with the machine and a positive rate for every stage', async () => {
    const r = await doctor('--images', '4', '--size', '64', '--json');
    expect(r).toMatchObject({ code: 0 });
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]);
    const m = report.machine;
    for (const key of ['cpus', 'availableParallelism', 'totalMemoryGiB']) expect(m[key]).toBeGreaterThan(0);
    expect(m.cpuModel).toEqual(expect.any(String));
    expect(m.node).toBe(process.version);
    expect(m.onnxruntimeNode).toMatch(/^\d+\.\d+\.\d+/);
    expect(m.executionProviders.map((p: { name: string }) => p.name)).toContain('cpu');
    expect(m.devices).toContain('cpu');
    // Where huge pages help, the command relaunched itself with them (relaunchWithMallocHugePages).
    const skipped = hugePagesRelaunchSkipped({ ...hugePagesContext(), nodeFlags: [] });
    if (skipped === null) expect(m.mallocHugePages).toBe(`GLIBC_TUNABLES ${MALLOC_HUGE_PAGES_TUNABLE}, transparent huge pages madvise`);
    else expect(m.mallocHugePages).toMatch(/^(off: |GLIBC_TUNABLES glibc\.malloc\.hugetlb=)/);
    expect(report).toMatchObject({ device: 'cpu', executionProvider: 'cpu', backbone: 'resnet18', d: 100, size: 64, images: 4, data: 'synthetic' });
    for (const stage of ['decode', 'backbone', 'accumulate', 'mahalanobis', 'anomalyMap', 'png']) {
      expect(report.stages[stage]).toMatchObject({ device: 'cpu' });
      expect(report.stages[stage].imagesPerSec).toBeGreaterThan(0);
      expect(report.stages[stage].cpuMsPerImage).toBeGreaterThan(0);
    }
    // d=100 on a 16×16 grid: the Gram path's group of 128 fits, so it is the CPU's path.
    expect(report.stages.accumulate.comoments).toBe('gram');
    expect(report.stages.finalize.seconds).toBeGreaterThan(0);
    expect(report.stages.finalize.cpuSeconds).toBeGreaterThan(0);
    for (const key of ['imagesPerSec', 'cpuMsPerImage', 'backboneShare', 'backboneCpuShare']) expect(report.trainingPipeline[key]).toBeGreaterThan(0);
    expect(report.seconds).toBeGreaterThan(0);
  });

  it('with --device cuda on a machine without CUDA, fails naming CUDA and how to set a GPU box up, without a stack trace', async () => {
    const r = await doctor('--device', 'cuda', '--images', '2', '--size', '64', '--json');
    if (r.code === 0) {
      // A machine with CUDA: the measurements ran there.
      expect(JSON.parse(r.stdout)).toMatchObject({ device: 'cuda', machine: { devices: expect.arrayContaining(['cuda']) } });
      return;
    }
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^padim doctor: --device cuda: CUDA is not available on this machine: /);
    expect(r.stderr).toContain('To set up a GPU box');
    expect(r.stderr).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--help prints every option with a description, and an example', async () => {
    const r = await doctor('--help');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^usage: padim doctor/);
    for (const option of ['--device', '--backbone', '--d', '--size', '--images', '--data', '--json'])
      expect(r.stdout).toMatch(new RegExp(`^  ${option} .* {2,}\\S`, 'm'));
    expect(r.stdout).toMatch(/\nexample:\n {2}padim doctor /);
  });

  it('rejects bad values with a usage error naming the option', async () => {
    expect(await doctor('--images', '1')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--images must be an integer >= 2/) });
    expect(await doctor('--device', 'tpu')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--device must be one of cpu, cuda/) });
  });
});
