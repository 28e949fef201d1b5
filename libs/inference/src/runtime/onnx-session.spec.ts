import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { availableDevices, createOnnxSession } from './onnx-session';

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
