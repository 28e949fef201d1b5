import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { mallocHugePagesState } from '@padim-fleet/contracts';
import { OnnxDevice, availableDevices } from '@padim-fleet/inference';

/** What a box offers the pipelines: its CPU, memory, runtimes, onnxruntime's providers and the devices they really open. */
export interface MachineReport {
  cpuModel: string;
  cpus: number;
  /** os.availableParallelism(): the threads onnxruntime and the finalisation use by default. */
  availableParallelism: number;
  totalMemoryGiB: number;
  /** 1-minute load average: above the CPU count, other processes share the CPUs and the figures measured here run low. */
  loadAverage: number;
  platform: string;
  node: string;
  onnxruntimeNode: string;
  /** The execution providers onnxruntime-node lists here; `bundled: false` ones need libraries of their own. */
  executionProviders: { name: string; bundled: boolean }[];
  /** Devices a session can really be created on (a probe session on each). */
  devices: OnnxDevice[];
  /** NVIDIA GPUs as nvidia-smi names them; none where it is missing. */
  gpus: string[];
  /** Huge pages for malloc (mallocHugePagesState): the tunable this process runs with, or why it runs without. */
  mallocHugePages: string;
}

export async function machineReport(): Promise<MachineReport> {
  // On a box without CUDA the probe's failed session is expected; onnxruntime would print it as error
  // lines of its own, where doctor says what it means.
  ort.env.logLevel = 'fatal';
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpus: os.cpus().length,
    availableParallelism: os.availableParallelism(),
    totalMemoryGiB: os.totalmem() / 1024 ** 3,
    loadAverage: Number(os.loadavg()[0].toFixed(1)),
    platform: `${os.platform()} ${os.arch()}`,
    node: process.version,
    onnxruntimeNode: ort.env.versions.node ?? 'unknown',
    executionProviders: ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled })),
    devices: await availableDevices(),
    gpus: nvidiaGpus(),
    mallocHugePages: mallocHugePagesState(),
  };
}

function nvidiaGpus(): string[] {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader'], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
  } catch {
    return [];
  }
}

/** The steps that give a Linux box with an NVIDIA GPU a CUDA device for padim (--device cuda). */
export const GPU_SETUP =
  'To set up a GPU box (Linux x64, NVIDIA GPU):\n' +
  '  1. the NVIDIA driver, and the CUDA 12 and cuDNN 9 runtime libraries on the library path (LD_LIBRARY_PATH);\n' +
  "  2. onnxruntime-node's CUDA provider libraries, which npm ci skips in this repository (.npmrc: onnxruntime-node-install=skip):\n" +
  '     ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js\n' +
  '  3. padim doctor --device cuda, which says whether a session now opens on CUDA.';

/** Why --device cuda cannot run here, as far as the machine tells, and how to set a GPU box up. */
export function cudaUnavailableMessage(machine: MachineReport): string {
  const providerLibrary = path.join(
    path.dirname(require.resolve('onnxruntime-node/package.json')),
    'bin',
    'napi-v6',
    'linux',
    'x64',
    'libonnxruntime_providers_cuda.so',
  );
  let reason: string;
  if (!machine.executionProviders.some((p) => p.name === 'cuda')) {
    reason = `onnxruntime-node ${machine.onnxruntimeNode} has no CUDA execution provider on ${machine.platform}`;
  } else if (process.platform === 'linux' && !existsSync(providerLibrary)) {
    reason = `onnxruntime-node's CUDA provider libraries are not installed (${providerLibrary} is missing)`;
  } else if (machine.gpus.length === 0) {
    reason = "no NVIDIA GPU was found (nvidia-smi lists none or is missing), so onnxruntime's CUDA provider cannot open a session";
  } else {
    reason = `onnxruntime's CUDA provider cannot open a session on ${machine.gpus[0]} (are the CUDA 12 and cuDNN 9 libraries on LD_LIBRARY_PATH?)`;
  }
  return `--device cuda: CUDA is not available on this machine: ${reason}.\n${GPU_SETUP}`;
}
