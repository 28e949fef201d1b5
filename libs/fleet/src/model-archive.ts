import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { ArchiveRejectedError, streamArchiveEntries, type ArchiveLimits } from '@padim-fleet/archives';
import { ModelArchiveHeader, modelArchiveHeader } from '@padim-fleet/contracts';
import { MANIFEST_FILE, ModelManifest, TensorEntry, parseModelManifest } from '@padim-fleet/padim-core';
import { ModelConflictError, ModelIntegrityError, ModelRegistry, pipeInto, putHashed, sha256Stream, uploadPrefix } from '@padim-fleet/storage';

/**
 * A model archive is a tar of one published version: `padim-model.json` (ModelArchiveHeader), then the
 * version's `manifest.json`, then each tensor the manifest lists (`mean.f32`, `inv_cholesky.f32`).
 */
export const MODEL_ARCHIVE_HEADER = 'padim-model.json';
const GiB = 2 ** 30;
/** A d=550 ResNet-50 model's factors take 1.9 GB; an archive holds nothing but the few entries above. */
export const MODEL_ARCHIVE_LIMITS: Partial<ArchiveLimits> = { maxEntries: 16, maxEntryBytes: 8 * GiB, maxTotalBytes: 16 * GiB };
/** The header and the manifest are read whole; a larger one is not a model archive. */
const MAX_JSON_ENTRY_BYTES = 4 * 1024 * 1024;

function tensorsOf(manifest: ModelManifest): TensorEntry[] {
  return [manifest.tensors.mean, manifest.tensors.invCholesky];
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A published version as a tar stream, tensors streamed from the store (never held whole). Each tensor is
 * hashed as it passes: one that no longer matches its manifest ends the stream with an error, so a download
 * of a corrupted model fails instead of completing. A missing version throws before anything is sent.
 */
export async function openModelArchive(registry: ModelRegistry, category: string, version: string): Promise<Readable> {
  const stored = await registry.readManifest(category, version);
  const manifest = parseModelManifest(stored);
  const header: ModelArchiveHeader = { format: 'padim-model', formatVersion: 1, category, version };
  const mtime = new Date(manifest.createdAt);
  const pack = tar.pack();
  const writeEntries = async () => {
    pack.entry({ name: MODEL_ARCHIVE_HEADER, mode: 0o644, mtime }, jsonBytes(header));
    pack.entry({ name: MANIFEST_FILE, mode: 0o644, mtime }, jsonBytes(stored));
    for (const tensor of tensorsOf(manifest)) {
      const hashing = pipeInto(await registry.openArtifact(category, version, tensor.file), sha256Stream());
      await new Promise<void>((resolve, reject) => {
        hashing.on('error', reject);
        hashing.pipe(pack.entry({ name: tensor.file, size: tensor.bytes, mode: 0o644, mtime }, (error) => (error ? reject(error) : resolve())));
      });
      if (hashing.sha256 !== tensor.sha256.toLowerCase()) {
        throw new ModelIntegrityError(category, version, tensor.file, tensor, { bytes: hashing.bytes, sha256: hashing.sha256 }, registry.store.location);
      }
    }
    pack.finalize();
  };
  writeEntries().catch((error: unknown) => pack.destroy(error as Error));
  return pack as unknown as Readable;
}

/** Where an import writes: a registry, a model folder. The importer calls begin, writeTensor per tensor, then publish or discard. */
export interface ModelImportTarget {
  /** Checks that the model may go there (an existing version is a conflict) before any tensor is written. */
  begin(header: ModelArchiveHeader, manifest: ModelManifest): Promise<void>;
  /** Stores one tensor's bytes and says what it stored; the importer compares them with the manifest. */
  writeTensor(file: string, content: Readable): Promise<{ bytes: number; sha256: string }>;
  /** Makes the verified model exist (manifest last). */
  publish(manifest: ModelManifest): Promise<void>;
  /** Removes what writeTensor stored, when the import fails after begin. */
  discard(): Promise<void>;
}

/**
 * Reads a model archive (checked by libs/archives: paths, links, limits) into `target`: the header and the
 * manifest first, then every tensor streamed through, its length and SHA-256 compared with the manifest's.
 * Anything wrong (order, an unknown or missing entry, a mismatch) is an ArchiveRejectedError naming the entry,
 * and nothing is published.
 */
export async function importModelArchive(
  file: string,
  target: ModelImportTarget,
  opts: { label?: string } = {},
): Promise<{ header: ModelArchiveHeader; manifest: ModelManifest }> {
  const label = opts.label ?? path.basename(file);
  const reject = (reason: string) => new ArchiveRejectedError(label, reason);
  let header: ModelArchiveHeader | undefined;
  let manifest: ModelManifest | undefined;
  const written = new Set<string>();
  let begun = false;
  try {
    for await (const { entry, content } of streamArchiveEntries(file, { label, limits: MODEL_ARCHIVE_LIMITS })) {
      if (header === undefined) {
        if (entry.path !== MODEL_ARCHIVE_HEADER) throw reject(`not a model archive: the first entry is ${entry.path}, expected ${MODEL_ARCHIVE_HEADER}`);
        const parsed = modelArchiveHeader.safeParse(await readJsonEntry(entry.path, entry.size, content, reject));
        if (!parsed.success)
          throw reject(`${MODEL_ARCHIVE_HEADER}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'value'} ${i.message}`).join('; ')}`);
        header = parsed.data;
        continue;
      }
      if (manifest === undefined) {
        if (entry.path !== MANIFEST_FILE) throw reject(`expected ${MANIFEST_FILE} after ${MODEL_ARCHIVE_HEADER}, found ${entry.path}`);
        const json = await readJsonEntry(entry.path, entry.size, content, reject);
        try {
          manifest = parseModelManifest(json);
        } catch (error) {
          throw reject(`${MANIFEST_FILE}: ${(error as Error).message}`);
        }
        await target.begin(header, manifest);
        begun = true;
        continue;
      }
      const expected = tensorsOf(manifest).find((t) => t.file === entry.path);
      if (!expected)
        throw reject(
          `${entry.path}: not a tensor of the manifest (expected ${tensorsOf(manifest)
            .map((t) => t.file)
            .join(', ')})`,
        );
      if (written.has(entry.path)) throw reject(`${entry.path}: appears twice`);
      if (entry.size !== expected.bytes) throw reject(`${entry.path}: ${entry.size} bytes, the manifest says ${expected.bytes}`);
      const stored = await target.writeTensor(entry.path, Readable.from(content));
      if (stored.bytes !== expected.bytes || stored.sha256 !== expected.sha256.toLowerCase()) {
        throw reject(
          `${entry.path}: SHA-256 ${stored.sha256} (${stored.bytes} bytes) does not match the manifest's ${expected.sha256} (${expected.bytes} bytes)`,
        );
      }
      written.add(entry.path);
    }
    if (header === undefined) throw reject(`not a model archive: no ${MODEL_ARCHIVE_HEADER}`);
    if (manifest === undefined) throw reject(`no ${MANIFEST_FILE}`);
    const missing = tensorsOf(manifest).filter((t) => !written.has(t.file));
    if (missing.length > 0) throw reject(`missing ${missing.map((t) => t.file).join(', ')}`);
    await target.publish(manifest);
    return { header, manifest };
  } catch (error) {
    if (begun) await target.discard().catch(() => undefined);
    throw error;
  }
}

async function readJsonEntry(name: string, size: number, content: AsyncIterable<Buffer>, reject: (reason: string) => Error): Promise<unknown> {
  if (size > MAX_JSON_ENTRY_BYTES) throw reject(`${name}: ${size} bytes, more than the ${MAX_JSON_ENTRY_BYTES} a model archive's JSON may have`);
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(chunk);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (error) {
    throw reject(`${name}: not valid JSON (${(error as Error).message})`);
  }
}

/**
 * Imports into a registry as (`category` or the archive's) / (`version` or the archive's): tensors are staged under `uploads/`
 * and copied into the version only once all are verified, then the manifest is written (as a trained version
 * is: tensors first, manifest last). An existing version is a ModelConflictError; `current` moves only with
 * `promote`.
 */
export class RegistryImportTarget implements ModelImportTarget {
  private readonly staging = uploadPrefix(`model-import-${randomUUID()}`);
  private readonly staged = new Map<string, { key: string; bytes: number; sha256: string }>();
  category = '';
  version = '';

  /** `category` and `opts.version` default to the archive's. */
  constructor(
    private readonly registry: ModelRegistry,
    private readonly into: { category?: string; version?: string; promote?: boolean } = {},
  ) {}

  async begin(header: ModelArchiveHeader): Promise<void> {
    this.category = this.into.category ?? header.category;
    this.version = this.into.version ?? header.version;
    await this.refuseExisting();
  }

  async writeTensor(file: string, content: Readable): Promise<{ bytes: number; sha256: string }> {
    const stored = await putHashed(this.registry.store, this.staging + file, content);
    this.staged.set(file, stored);
    return stored;
  }

  async publish(manifest: ModelManifest): Promise<void> {
    await this.refuseExisting();
    for (const tensor of tensorsOf(manifest)) await this.registry.copyArtifact(this.category, this.version, tensor.file, this.staged.get(tensor.file)!);
    await this.registry.writeManifest(this.category, this.version, { ...manifest, category: this.category });
    await this.registry.store.deletePrefix(this.staging);
    if (this.into.promote) await this.registry.setCurrent(this.category, this.version);
  }

  async discard(): Promise<void> {
    await this.registry.store.deletePrefix(this.staging);
    await this.registry.deleteUnpublishedVersion(this.category, this.version);
  }

  private async refuseExisting(): Promise<void> {
    if (await this.registry.hasVersion(this.category, this.version)) {
      throw new ModelConflictError(
        this.category,
        this.version,
        'already exists; an import never replaces a version (delete it, or import under another version)',
      );
    }
  }
}
