import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { loadFleetConfig, s3Connection } from '@padim-fleet/contracts';
import { ModelImportTarget, RegistryImportTarget, importModelArchive } from '@padim-fleet/fleet';
import { writeModelFolder } from '@padim-fleet/inference';
import { ModelManifest } from '@padim-fleet/padim-core';
import { ModelRegistry, createBlobStore } from '@padim-fleet/storage';
import { CommandSpec, parseCommand, UsageError } from '../args';

export const IMPORT_COMMAND = {
  name: 'import',
  summary: 'take a model archive (GET /v1/models/…/archive) into a model folder or a fleet store',
  synopsis: '--archive <file.tar> (--out <dir> | --store <dir|s3://bucket/prefix> [--category <name>] [--version <v>] [--promote])',
  description:
    'Checks the archive (paths, links, limits) and every tensor against the manifest (length and SHA-256); a mismatch\n' +
    'fails naming the file and writes nothing. --out writes a model folder for padim score/eval/export (it must be\n' +
    "missing or empty). --store publishes the version into a fleet's registry (S3 settings from S3_ENDPOINT, S3_ACCESS_KEY_ID,\n" +
    'S3_SECRET_ACCESS_KEY, S3_REGION); an existing version is refused, and current moves only with --promote.',
  options: {
    archive: { type: 'string', value: 'file.tar', description: 'the model archive (required)' },
    out: { type: 'string', value: 'dir', description: 'write a model folder here' },
    store: { type: 'string', value: 'dir|s3://bucket/prefix', description: "publish into this fleet store's registry" },
    category: { type: 'string', value: 'name', description: "with --store: the category (default: the archive's)" },
    version: { type: 'string', value: 'v', description: "with --store: the version (default: the archive's)" },
    promote: { type: 'boolean', description: 'with --store: make the imported version current' },
  },
  example: 'padim import --archive screw-v7.tar --out models/screw',
  positionals: false,
} as const satisfies CommandSpec;

/** Holds the verified tensors and writes them as a model folder (in a temporary folder renamed into place). */
class FolderImportTarget implements ModelImportTarget {
  private readonly tensors = new Map<string, Float32Array>();

  constructor(private readonly dir: string) {}

  async begin(): Promise<void> {
    const names = await fs.readdir(this.dir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : Promise.reject(error)));
    if (names.length > 0) throw new UsageError(`--out ${this.dir}: already exists and is not empty; an import never replaces a model`);
  }

  async writeTensor(file: string, content: Readable): Promise<{ bytes: number; sha256: string }> {
    const chunks: Buffer[] = [];
    for await (const chunk of content) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    const values = new Float32Array(bytes.length / 4);
    new Uint8Array(values.buffer).set(bytes.subarray(0, values.byteLength));
    this.tensors.set(file, values);
    return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  async publish(manifest: ModelManifest): Promise<void> {
    const { tensors, ...rest } = manifest;
    await writeModelFolder(this.dir, rest, { mean: this.tensors.get(tensors.mean.file)!, invCholesky: this.tensors.get(tensors.invCholesky.file)! });
  }

  async discard(): Promise<void> {
    this.tensors.clear();
  }
}

export async function importCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, IMPORT_COMMAND);
  if (!values.archive) throw new UsageError('--archive is required (padim import --help lists the options)');
  if (!values.out === !values.store) throw new UsageError('give one of --out <dir> or --store <dir|s3://bucket/prefix>');
  if (values.out && (values.category || values.version || values.promote)) throw new UsageError('--category, --version and --promote go with --store');
  const archive = path.resolve(values.archive);
  if (values.out) {
    const out = path.resolve(values.out);
    const { header } = await importModelArchive(archive, new FolderImportTarget(out), { label: values.archive });
    process.stdout.write(`imported ${header.category}/${header.version} into ${out}\n`);
    return;
  }
  const store = createBlobStore(values.store!, s3Connection(loadFleetConfig(process.env)));
  const registry = new ModelRegistry(store);
  const target = new RegistryImportTarget(registry, { category: values.category, version: values.version, promote: values.promote });
  await importModelArchive(archive, target, { label: values.archive });
  process.stdout.write(`imported ${target.category}/${target.version} into ${store.location}${values.promote ? ' (now current)' : ''}\n`);
}
