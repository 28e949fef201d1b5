import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The embedded kernel bytes and layouts (*-wasm.ts) against a fresh assembly of their .wat by wabt. */
const SRC = join(__dirname, '..', 'src');
const SCRIPT = join(SRC, 'wasm', 'build-wasm-kernels.mjs');
const KERNEL_FOLDERS = ['gaussian', 'mahalanobis', 'image'];

function buildKernels(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('build-wasm-kernels.mjs', () => {
  let copy: string;

  beforeEach(() => {
    copy = mkdtempSync(join(tmpdir(), 'wasm-kernels-'));
    for (const folder of KERNEL_FOLDERS) cpSync(join(SRC, folder), join(copy, folder), { recursive: true });
  });
  afterEach(() => rmSync(copy, { recursive: true, force: true }));

  it('finds the committed *-wasm.ts equal to a fresh assembly of every .wat', () => {
    const run = buildKernels('--check');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('fails the check, naming the kernel, when a .wat is edited without rebuilding, and passes once rebuilt', () => {
    const wat = join(copy, 'mahalanobis', 'mahalanobis-kernel.wat');
    // Images are two f32x4 vectors apart in Y: make it one, a change of code the bytes must follow.
    const edited = readFileSync(wat, 'utf8').replace(
      '(local.set $yPosBytes (i32.shl (local.get $D4) (i32.const 5)))',
      '(local.set $yPosBytes (i32.shl (local.get $D4) (i32.const 4)))',
    );
    expect(edited).not.toBe(readFileSync(wat, 'utf8'));
    writeFileSync(wat, edited);

    const stale = buildKernels('--check', '--src', copy);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('mahalanobis/mahalanobis-kernel-wasm.ts');
    expect(stale.stderr).not.toContain('png-unfilter');

    expect(buildKernels('--src', copy).status).toBe(0);
    expect(buildKernels('--check', '--src', copy).status).toBe(0);
    expect(readFileSync(join(copy, 'mahalanobis', 'mahalanobis-kernel-wasm.ts'), 'utf8')).not.toBe(
      readFileSync(join(SRC, 'mahalanobis', 'mahalanobis-kernel-wasm.ts'), 'utf8'),
    );
  });

  it('fails the check when only a layout line of a .wat changes', () => {
    const wat = join(copy, 'image', 'resize-pil.wat');
    writeFileSync(wat, readFileSync(wat, 'utf8').replace(';; @region tmp align=16 slack=64 scratch', ';; @region tmp align=16 slack=32 scratch'));

    const stale = buildKernels('--check', '--src', copy);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('image/resize-pil-wasm.ts');
  });

  it('rejects a malformed layout line, naming the file and line', () => {
    const wat = join(copy, 'image', 'png-unfilter.wat');
    const text = readFileSync(wat, 'utf8');
    const line = text.split('\n').findIndex((l) => l.startsWith(';; @region raw')) + 1;
    writeFileSync(wat, text.replace(';; @region raw align=16 slack=64 in', ';; @region raw align=16 slack=64 readonly'));

    const run = buildKernels('--check', '--src', copy);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`image/png-unfilter.wat:${line}: access must be one of in, out, inout, scratch`);
  });

  it('refuses a misspelt argument rather than rebuilding in place of a check', () => {
    const wat = join(copy, 'image', 'resize-pil.wat');
    writeFileSync(wat, readFileSync(wat, 'utf8').replace('(memory (export "memory") 1)', '(memory (export "memory") 2)'));
    const generated = readFileSync(join(copy, 'image', 'resize-pil-wasm.ts'), 'utf8');

    const run = buildKernels('--chek', '--src', copy);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('unexpected arguments ["--chek","--src"');
    expect(readFileSync(join(copy, 'image', 'resize-pil-wasm.ts'), 'utf8')).toBe(generated);
  });
});
