import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { availableDevices, createOnnxSession } from './onnx-session';
import { OnnxWorkerSession } from './onnx-worker-session';

function doubler(): Uint8Array {
  const g = new OnnxGraphBuilder('double');
  const x = g.input('x', 'float', ['n']);
  g.node('Add', [x, x], {}, ['y']);
  g.output('y', 'float', ['n']);
  return g.toBytes();
}

async function runDoubler(session: ort.InferenceSession): Promise<number[]> {
  const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([1, -2.5]), [2]) });
  return Array.from(out.y.data as Float32Array);
}

describe('createOnnxSession', () => {
  it('runs a model from bytes on the CPU, with a thread count', async () => {
    const session = await createOnnxSession(doubler(), { threads: 1 });
    expect(await runDoubler(session)).toEqual([2, -5]);
    await session.release();
  });

  it('runs a model from a file path', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'onnx-session-'));
    try {
      const file = path.join(dir, 'double.onnx');
      await writeFile(file, doubler());
      expect(await runDoubler(await createOnnxSession(file))).toEqual([2, -5]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports model errors as they are', async () => {
    await expect(createOnnxSession(new Uint8Array([1, 2, 3]))).rejects.toThrow();
    await expect(createOnnxSession(new Uint8Array([1, 2, 3]))).rejects.not.toThrow(/CUDA/);
  });

  it('uses CUDA only where it is available, and otherwise says so instead of falling back to the CPU', async () => {
    const devices = await availableDevices();
    expect(devices[0]).toBe('cpu');
    if (devices.includes('cuda')) {
      expect(await runDoubler(await createOnnxSession(doubler(), { device: 'cuda' }))).toEqual([2, -5]);
    } else {
      await expect(createOnnxSession(doubler(), { device: 'cuda', deviceId: 0 })).rejects.toThrow(/^CUDA is unavailable/);
    }
  });
});

describe('OnnxWorkerSession', () => {
  it('leaves the caller its inputs, and gives right results while reusing input buffers across runs of different sizes', async () => {
    const session = await OnnxWorkerSession.create(doubler(), { threads: 1, memoryArena: false });
    try {
      const sizes = [5, 3, 5, 8, 2, 8, 8];
      const inputs = sizes.map((n, k) => Float32Array.from({ length: n }, (_, i) => i - k));
      // Several in flight at once, then one at a time.
      const together = await Promise.all(inputs.slice(0, 4).map((x) => session.run({ x: { data: x, dims: [x.length] } })));
      const oneByOne = [];
      for (const x of inputs.slice(4)) oneByOne.push(await session.run({ x: { data: x, dims: [x.length] } }));
      [...together, ...oneByOne].forEach((out, k) => {
        expect(Array.from(out.y.data)).toEqual(Array.from(inputs[k], (v) => 2 * v));
        expect(out.y.dims).toEqual([sizes[k]]);
      });
      // The caller's arrays were copied, not moved: still attached and unchanged.
      inputs.forEach((x, k) => expect([x.length, x[0] + k]).toEqual([sizes[k], 0]));
      // An input given as segments is their concatenation.
      const joined = await session.run({ x: { data: [inputs[1], inputs[4], inputs[0]], dims: [10] } });
      expect(Array.from(joined.y.data)).toEqual([...inputs[1], ...inputs[4], ...inputs[0]].map((v) => 2 * v));
    } finally {
      await session.release();
    }
  });
});
