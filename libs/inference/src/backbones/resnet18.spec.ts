import { copyFile, mkdtemp, readFile, readdir, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { encodeNpy } from '../npy/encode-npy';
import { readNpyFile } from '../npy/read-npy';
import { randomFloats } from '../testing/random-floats';
import { defaultResnet18Dir, shippedResnet18Dir } from '../config/paths';
import { describeWithShared, sharedPath } from '../testing/shared-data';
import { buildResnet18Onnx, resnet18Spec } from './resnet18';

interface Tensor {
  c: number;
  h: number;
  w: number;
  data: Float32Array;
}

/** Direct convolution of one image, zero padding, as torch.nn.Conv2d computes it (f64 sums). */
function conv2d(x: Tensor, weight: Float32Array, bias: Float32Array, out: number, k: number, stride: number, pad: number): Tensor {
  const h = Math.floor((x.h + 2 * pad - k) / stride) + 1;
  const w = Math.floor((x.w + 2 * pad - k) / stride) + 1;
  const data = new Float32Array(out * h * w);
  for (let o = 0; o < out; o++) {
    for (let oy = 0; oy < h; oy++) {
      for (let ox = 0; ox < w; ox++) {
        let sum = bias[o];
        for (let c = 0; c < x.c; c++) {
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= x.h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * stride - pad + kx;
              if (ix < 0 || ix >= x.w) continue;
              sum += weight[((o * x.c + c) * k + ky) * k + kx] * x.data[(c * x.h + iy) * x.w + ix];
            }
          }
        }
        data[(o * h + oy) * w + ox] = sum;
      }
    }
  }
  return { c: out, h, w, data };
}

const relu = (t: Tensor): Tensor => ({ ...t, data: t.data.map((v) => Math.max(0, v)) });
const add = (a: Tensor, b: Tensor): Tensor => ({ ...a, data: a.data.map((v, i) => v + b.data[i]) });

/** 3×3 stride 2 pad 1 max-pool; padding never wins (it is -inf in PyTorch). */
function maxPool(x: Tensor): Tensor {
  const h = Math.floor((x.h + 2 - 3) / 2) + 1;
  const w = Math.floor((x.w + 2 - 3) / 2) + 1;
  const data = new Float32Array(x.c * h * w);
  for (let c = 0; c < x.c; c++) {
    for (let oy = 0; oy < h; oy++) {
      for (let ox = 0; ox < w; ox++) {
        let m = -Infinity;
        for (let iy = oy * 2 - 1; iy <= oy * 2 + 1; iy++) {
          for (let ix = ox * 2 - 1; ix <= ox * 2 + 1; ix++) {
            if (iy >= 0 && iy < x.h && ix >= 0 && ix < x.w) m = Math.max(m, x.data[(c * x.h + iy) * x.w + ix]);
          }
        }
        data[(c * h + oy) * w + ox] = m;
      }
    }
  }
  return { c: x.c, h, w, data };
}

/** torchvision resnet18 forward to layer3, written out from its README rather than from the builder. */
async function referenceResnet18(dir: string, image: Tensor): Promise<Tensor[]> {
  const convLayer = async (x: Tensor, module: string, stride: number): Promise<Tensor> => {
    const w = await readNpyFile(path.join(dir, `${module}.weight.npy`));
    const b = await readNpyFile(path.join(dir, `${module}.bias.npy`));
    const [out, , k] = w.shape;
    return conv2d(x, w.data as Float32Array, b.data as Float32Array, out, k, stride, (k - 1) / 2);
  };
  const block = async (x: Tensor, prefix: string, stride: number): Promise<Tensor> => {
    const y = await convLayer(relu(await convLayer(x, `${prefix}.conv1`, stride)), `${prefix}.conv2`, 1);
    const shortcut = stride === 1 ? x : await convLayer(x, `${prefix}.downsample.0`, stride);
    return relu(add(y, shortcut));
  };
  let x = maxPool(relu(await convLayer(image, 'conv1', 2)));
  const outputs: Tensor[] = [];
  for (const [layer, stride] of [
    [1, 1],
    [2, 2],
    [3, 2],
  ]) {
    x = await block(await block(x, `layer${layer}.0`, stride), `layer${layer}.1`, 1);
    outputs.push(x);
  }
  return outputs;
}

const SHARED_WEIGHTS = ['backbones', 'resnet18-torchvision'];
const weightsPath = (...parts: string[]) => path.join(shippedResnet18Dir(), ...parts);

describe('resnet18Spec', () => {
  it('describes the torchvision layers PaDiM-R18 uses', () => {
    expect(resnet18Spec).toMatchObject({
      name: 'resnet18',
      inputName: 'image',
      outputs: ['layer1', 'layer2', 'layer3'],
      channels: [64, 128, 256],
      strides: [4, 8, 16],
    });
    expect(resnet18Spec.normalization.mean).toEqual([0.485, 0.456, 0.406]);
  });
});

describe('buildResnet18Onnx', () => {
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(await buildResnet18Onnx(weightsPath()));
  });

  it('matches a direct-convolution reference on a 1×3×32×32 input within 1e-3 relative', async () => {
    const image: Tensor = { c: 3, h: 32, w: 32, data: randomFloats(3 * 32 * 32, 18, -2, 2) };
    const expected = await referenceResnet18(weightsPath(), image);
    const out = await session.run({ image: new ort.Tensor('float32', image.data, [1, 3, 32, 32]) });
    resnet18Spec.outputs.forEach((name, i) => {
      const ref = expected[i];
      expect(out[name].dims).toEqual([1, ref.c, ref.h, ref.w]);
      const got = out[name].data as Float32Array;
      const scale = ref.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(scale).toBeGreaterThan(0.1);
      let worst = 0;
      for (let j = 0; j < got.length; j++) worst = Math.max(worst, Math.abs(got[j] - ref.data[j]) / Math.max(Math.abs(ref.data[j]), 1e-2 * scale));
      expect(worst).toBeLessThan(1e-3);
    });
  });

  it('gives 64×64×64, 128×32×32 and 256×16×16 maps at 256×256, for a batch of 2', async () => {
    const out = await session.run({ image: new ort.Tensor('float32', randomFloats(2 * 3 * 256 * 256, 5), [2, 3, 256, 256]) });
    expect(out.layer1.dims).toEqual([2, 64, 64, 64]);
    expect(out.layer2.dims).toEqual([2, 128, 32, 32]);
    expect(out.layer3.dims).toEqual([2, 256, 16, 16]);
  });

  describe('weight validation', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'resnet18-'));
      for (const f of await readdir(weightsPath())) {
        if (f.endsWith('.npy')) await symlink(weightsPath(f), path.join(dir, f));
      }
    });
    afterEach(async () => rm(dir, { recursive: true, force: true }));

    it('names a missing weight file', async () => {
      await unlink(path.join(dir, 'layer2.0.downsample.0.weight.npy'));
      await expect(buildResnet18Onnx(dir)).rejects.toThrow(`ResNet-18 weight file missing: ${path.join(dir, 'layer2.0.downsample.0.weight.npy')}`);
    });

    it('names a wrongly shaped weight file', async () => {
      const file = path.join(dir, 'layer1.1.conv2.weight.npy');
      await unlink(file);
      await writeFile(file, encodeNpy(new Float32Array(64 * 64 * 9), [64, 64, 9, 1]));
      await expect(buildResnet18Onnx(dir)).rejects.toThrow(`${file}: shape [64, 64, 9, 1], expected [64, 64, 3, 3]`);
    });

    it('names a weight file of the wrong dtype', async () => {
      const file = path.join(dir, 'layer3.1.conv1.bias.npy');
      await unlink(file);
      await writeFile(file, encodeNpy(new Float64Array(256), [256]));
      await expect(buildResnet18Onnx(dir)).rejects.toThrow(`${file}: dtype <f8, expected <f4`);
    });

    it('builds from a copy of the weights', async () => {
      const file = path.join(dir, 'conv1.weight.npy');
      await unlink(file);
      await copyFile(weightsPath('conv1.weight.npy'), file);
      expect((await buildResnet18Onnx(dir)).length).toBeGreaterThan(10_000_000);
    });
  });
});

describe('the ResNet-18 weights shipped with the library', () => {
  const weightFiles = async () => (await readdir(weightsPath())).filter((f) => f.endsWith('.npy')).sort();

  it('are the default weights folder, found from the package folder rather than the working directory', () => {
    const saved = process.env.PADIM_RESNET18_DIR;
    delete process.env.PADIM_RESNET18_DIR;
    try {
      expect(defaultResnet18Dir()).toBe(path.resolve(__dirname, '../../assets/resnet18-torchvision'));
    } finally {
      if (saved !== undefined) process.env.PADIM_RESNET18_DIR = saved;
    }
  });

  it('list a SHA-256 for each of their 30 weight files, and carry the torchvision BSD-3-Clause licence', async () => {
    const files = await weightFiles();
    expect(files).toHaveLength(30);
    const sums = (await readFile(weightsPath('SHA256SUMS'), 'utf8')).trim().split('\n');
    expect(sums.map((line) => line.slice(66)).sort()).toEqual(files);
    const licence = await readFile(weightsPath('LICENSE'), 'utf8');
    expect(licence).toContain('BSD 3-Clause License');
    expect(licence).toContain('Copyright (c) Soumith Chintala 2016');
    expect(licence).toContain('Neither the name of the copyright holder nor the names of its');
  });

  describeWithShared('compared with the shared copy', () => {
    it('are byte for byte the weights in ../shared/backbones/resnet18-torchvision', async () => {
      const shared = (await readdir(sharedPath(...SHARED_WEIGHTS))).filter((f) => f.endsWith('.npy')).sort();
      expect(await weightFiles()).toEqual(shared);
      for (const f of shared) expect((await readFile(weightsPath(f))).equals(await readFile(sharedPath(...SHARED_WEIGHTS, f)))).toBe(true);
    });
  });

  describe('checked against SHA256SUMS when loaded', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'resnet18-sums-'));
      for (const f of await readdir(weightsPath())) await copyFile(weightsPath(f), path.join(dir, f));
    });
    afterEach(async () => rm(dir, { recursive: true, force: true }));

    it('names a corrupted weight file', async () => {
      const file = path.join(dir, 'layer2.1.conv1.weight.npy');
      const bytes = await readFile(file);
      bytes[bytes.length - 100] ^= 0x01; // one bit of one float: still a valid .npy of the right shape
      await writeFile(file, bytes);
      await expect(buildResnet18Onnx(dir)).rejects.toThrow(
        new RegExp(`^ResNet-18 weight file corrupted: ${file} has SHA-256 [0-9a-f]{64}, ${path.join(dir, 'SHA256SUMS')} expects [0-9a-f]{64}`),
      );
    });

    it('names a truncated weight file', async () => {
      const file = path.join(dir, 'layer3.1.conv2.weight.npy');
      await truncate(file, 1000);
      await expect(buildResnet18Onnx(dir)).rejects.toThrow(`ResNet-18 weight file corrupted: ${file} has SHA-256`);
    });

    it('names a weight file that SHA256SUMS does not list', async () => {
      const sums = path.join(dir, 'SHA256SUMS');
      const lines = (await readFile(sums, 'utf8')).split('\n').filter((line) => !line.endsWith(' conv1.bias.npy'));
      await writeFile(sums, lines.join('\n'));
      await expect(buildResnet18Onnx(dir)).rejects.toThrow(`${sums} has no SHA-256 for conv1.bias.npy`);
    });

    it('names a malformed line of SHA256SUMS', async () => {
      const sums = path.join(dir, 'SHA256SUMS');
      await writeFile(sums, `${await readFile(sums, 'utf8')}not a checksum line\n`);
      await expect(buildResnet18Onnx(dir)).rejects.toThrow(`${sums}: line 31 is not "<sha256>  <file>"`);
    });
  });
});
