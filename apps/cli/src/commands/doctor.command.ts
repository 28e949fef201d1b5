import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_BATCH_SIZE, OnnxDevice, generateSyntheticDataset, isImageFileName, resolveEmbedding, resolveTrainingFiles } from '@padim-fleet/inference';
import { CommandSpec, choice, intOption, parseCommand } from '../args';
import { MODEL_OPTIONS, RUNTIME_OPTIONS, checkTrainingMemory, loadBackbone } from '../common-options';
import { MachineReport, cudaUnavailableMessage, machineReport } from '../doctor/machine';
import { StageName, StageRate, StageRates, measureStages } from '../doctor/stage-rates';

export const DOCTOR_COMMAND = {
  name: 'doctor',
  summary: 'what this machine can do: device, execution provider and images/s of each stage',
  synopsis: '[--device cpu|cuda] [--backbone resnet18] [--images 32] [--data <dir>] [--json]',
  description:
    'Prints the machine (CPU, memory, Node and onnxruntime-node), the execution providers onnxruntime-node lists and the\n' +
    'devices a session really opens on, then measures images/s and CPU ms per image of each stage alone on the same images:\n' +
    'decode + resize, backbone, co-moment accumulation, finalisation (seconds), Mahalanobis, anomaly map, heatmap PNGs;\n' +
    "then the training pipeline (decode + backbone + accumulate) and the backbone's share of it.\n" +
    'Without --data the images are synthetic 1024×1024 PNGs made in a temporary folder.',
  options: {
    device: RUNTIME_OPTIONS.device,
    backbone: MODEL_OPTIONS.backbone,
    d: MODEL_OPTIONS.d,
    size: MODEL_OPTIONS.size,
    images: { type: 'string', default: '32', value: 'n', description: 'images measured at each stage (all held in memory as embeddings)' },
    data: {
      type: 'string',
      value: 'dir',
      description: 'a folder of your own images, or an MVTec-style category (its train/good) (default: synthetic 1024×1024 PNGs)',
    },
    json: { type: 'boolean', description: 'print one JSON object only' },
  },
  example: 'padim doctor --device cuda --backbone resnet50',
} as const satisfies CommandSpec;

/** Distinct synthetic images: the others repeat them, which costs the stages the same and saves generating them. */
const DISTINCT_SYNTHETIC_IMAGES = 4;
const SYNTHETIC_SIDE = 1024;

interface DoctorImages {
  files: string[];
  /** What the images are, for a person. */
  source: string;
  /** A temporary folder to remove afterwards. */
  scratch?: string;
}

async function doctorImages(data: string | undefined, count: number): Promise<DoctorImages> {
  if (data) {
    const { folder, files } = await resolveTrainingFiles(path.resolve(data));
    const images = files.filter(isImageFileName).slice(0, count);
    if (images.length < 2) throw new Error(`${folder}: doctor needs at least 2 images, found ${images.length}`);
    return { files: images, source: `${images.length} images from ${folder}` };
  }
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-doctor-'));
  const distinct = Math.min(count, DISTINCT_SYNTHETIC_IMAGES);
  await generateSyntheticDataset(scratch, { size: SYNTHETIC_SIDE, train: distinct, testGood: 0, testPerDefect: 0 });
  const generated = (await resolveTrainingFiles(scratch)).files;
  return {
    files: Array.from({ length: count }, (_, i) => generated[i % generated.length]),
    source: `${count} synthetic ${SYNTHETIC_SIDE}×${SYNTHETIC_SIDE} PNGs${count > distinct ? ` (${distinct} distinct ones, repeated)` : ''}`,
    scratch,
  };
}

function significant(x: number): number {
  return Number(x.toPrecision(3));
}

function machineLines(m: MachineReport): string {
  const providers = m.executionProviders.map((p) => (p.bundled ? p.name : `${p.name} (libraries not bundled)`)).join(', ');
  return (
    `machine      ${m.cpuModel}, ${m.cpus} CPUs (${m.availableParallelism} available), ${significant(m.totalMemoryGiB)} GiB memory, ${m.platform}, load average ${m.loadAverage}\n` +
    `runtime      Node ${m.node}, onnxruntime-node ${m.onnxruntimeNode}\n` +
    `malloc       huge pages ${m.mallocHugePages}\n` +
    `providers    listed by onnxruntime-node: ${providers}\n` +
    `devices      a session opens on: ${m.devices.join(', ')}\n` +
    `gpus         ${m.gpus.length > 0 ? m.gpus.join('; ') : 'none (nvidia-smi lists none or is missing)'}\n` +
    (m.loadAverage > m.availableParallelism
      ? `note         load average ${m.loadAverage} on ${m.availableParallelism} CPUs: other work shares them now, so the rates below run low\n`
      : '')
  );
}

const STAGE_LABELS: Record<Exclude<StageName, 'finalize' | 'trainingPipeline'>, string> = {
  decode: 'decode + resize',
  backbone: 'backbone',
  accumulate: 'accumulate',
  mahalanobis: 'Mahalanobis',
  anomalyMap: 'anomaly map',
  png: 'heatmap + mask PNGs',
};

const LABEL_WIDTH = 24;

function rateLine(label: string, rate: { imagesPerSec: number; cpuMsPerImage: number }, device: string, note = ''): string {
  return `${label.padEnd(LABEL_WIDTH)}${String(significant(rate.imagesPerSec)).padStart(9)}${String(significant(rate.cpuMsPerImage)).padStart(14)}  ${device}${note}\n`;
}

/** The line of a stage once measured (rates holds it and those before it). */
function stageLine(name: StageName, rates: Partial<StageRates>, grid: string): string {
  if (name === 'finalize') {
    const f = rates.finalize!;
    return `${`finalise (${grid})`.padEnd(LABEL_WIDTH)}${`${significant(f.seconds)} s`.padStart(9)}${`${significant(f.cpuSeconds)} s`.padStart(14)}  ${f.device}  (once per model: seconds, CPU seconds)\n`;
  }
  if (name === 'trainingPipeline') {
    const p = rates.trainingPipeline!;
    const b = rates.backbone!;
    return (
      rateLine('training pipeline', p, b.device, '  (decode + backbone + accumulate, overlapped)') +
      `backbone share: the backbone alone takes ${Math.round((100 * p.imagesPerSec) / b.imagesPerSec)} % of the training pipeline's time and ${Math.round((100 * b.cpuMsPerImage) / p.cpuMsPerImage)} % of its CPU\n`
    );
  }
  const rate = rates[name]!;
  const label = name === 'accumulate' ? `accumulate (${rates.accumulate!.comoments})` : STAGE_LABELS[name];
  return rateLine(label, rate, rate.device);
}

/** The JSON object --json prints: the figures rounded to 3 significant digits, the stages in their order. */
function doctorJson(m: MachineReport, run: Record<string, unknown>, rates: StageRates, seconds: number): object {
  const rate = (r: { imagesPerSec: number; cpuMsPerImage: number }) => ({
    imagesPerSec: significant(r.imagesPerSec),
    cpuMsPerImage: significant(r.cpuMsPerImage),
  });
  const stage = (r: StageRate) => ({ ...rate(r), device: r.device });
  const { finalize, trainingPipeline, backbone } = rates;
  return {
    machine: { ...m, totalMemoryGiB: significant(m.totalMemoryGiB) },
    ...run,
    stages: {
      decode: stage(rates.decode),
      backbone: stage(backbone),
      accumulate: { ...stage(rates.accumulate), comoments: rates.accumulate.comoments },
      finalize: { seconds: significant(finalize.seconds), cpuSeconds: significant(finalize.cpuSeconds), device: finalize.device },
      mahalanobis: stage(rates.mahalanobis),
      anomalyMap: stage(rates.anomalyMap),
      png: stage(rates.png),
    },
    trainingPipeline: {
      ...rate(trainingPipeline),
      backboneShare: significant(trainingPipeline.imagesPerSec / backbone.imagesPerSec),
      backboneCpuShare: significant(backbone.cpuMsPerImage / trainingPipeline.cpuMsPerImage),
    },
    seconds: significant(seconds),
  };
}

export async function doctorCommand(argv: string[]): Promise<void> {
  const started = process.hrtime.bigint();
  const { values } = parseCommand(argv, DOCTOR_COMMAND);
  const device: OnnxDevice = choice<OnnxDevice>(values.device, 'device', ['cpu', 'cuda']) ?? 'cpu';
  const count = intOption(values.images, 'images', 2)!;
  const size = intOption(values.size, 'size', 32) ?? 256;
  const json = values.json ?? false;
  // With --json, stdout holds the JSON object alone.
  const print = (text: string) => {
    if (!json) process.stdout.write(text);
  };

  const machine = await machineReport();
  print(machineLines(machine));
  if (device === 'cuda' && !machine.devices.includes('cuda')) throw new Error(cudaUnavailableMessage(machine));

  const backbone = await loadBackbone(values);
  const selection = resolveEmbedding(backbone, { d: intOption(values.d, 'd') });
  process.stderr.write(checkTrainingMemory(backbone, { d: values.d, size: String(size) }) ?? '');
  const images = await doctorImages(values.data, count);
  try {
    const executionProvider = device === 'cuda' ? 'cuda (cpu for the nodes CUDA lacks)' : 'cpu';
    print(
      `measured on  ${device}, execution provider ${executionProvider}: ${backbone.spec.name}, d=${selection.d}, ${size}×${size}, batches of ${DEFAULT_BATCH_SIZE}\n` +
        `images       ${images.source}\n\n` +
        `${'stage'.padEnd(LABEL_WIDTH)}${'images/s'.padStart(9)}${'CPU ms/image'.padStart(14)}  device\n`,
    );
    const stride = backbone.spec.strides[0];
    const grid = `${Math.ceil(size / stride)}×${Math.ceil(size / stride)} grid`;
    const rates = await measureStages(images.files, { backbone, selection, size, batchSize: DEFAULT_BATCH_SIZE, runtime: { device } }, (name, sofar) =>
      print(stageLine(name, sofar, grid)),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    print(`done in ${significant(seconds)} s\n`);
    if (json) {
      const run = {
        device,
        executionProvider: device,
        backbone: backbone.spec.name,
        d: selection.d,
        size,
        batch: DEFAULT_BATCH_SIZE,
        images: images.files.length,
        data: values.data ? path.resolve(values.data) : 'synthetic',
      };
      process.stdout.write(JSON.stringify(doctorJson(machine, run, rates, seconds)) + '\n');
    }
  } finally {
    if (images.scratch) await fs.rm(images.scratch, { recursive: true, force: true });
  }
}
