import { BadRequestException } from '@nestjs/common';
import type { Request } from 'express';
import { detectArchiveFormat, ARCHIVE_HEAD_BYTES } from '@padim-fleet/archives';
import { BlobStore, putLimited } from '@padim-fleet/storage';
import { readMultipart, rejectDeclaredLength } from './multipart';

/** Room for the text fields and the multipart framing besides the archive itself. */
const FIELDS_SLACK_BYTES = 1024 * 1024;

export interface ArchiveUpload {
  /** The text fields, by name. */
  fields: Record<string, string>;
  archive: { key: string; name: string; size: number };
}

export interface ArchiveUploadOptions {
  store: BlobStore;
  maxBytes: number;
  /** The key the archive is stored under, from its uploaded name. */
  keyFor: (name: string) => string;
  /** Checks the fields sent before the archive, so that bad ones are answered without storing it. */
  beforeArchive: (fields: Record<string, string>) => Promise<void>;
}

/**
 * Reads an upload route's body: text fields and one file part `archive`, streamed into the store as it
 * arrives (never to the API's disk or memory). Past `maxBytes` the write stops at the first byte over
 * (413, nothing stored). An archive that is empty or whose first bytes are not a zip, tar or gzip is a
 * 400 and is removed again. Other failures leave nothing stored either.
 */
export async function receiveArchiveUpload(req: Request, opts: ArchiveUploadOptions): Promise<ArchiveUpload> {
  rejectDeclaredLength(req, opts.maxBytes + FIELDS_SLACK_BYTES, 'archive');
  const fields: Record<string, string> = {};
  let archive: ArchiveUpload['archive'] | undefined;
  try {
    for await (const part of readMultipart(req, { files: 1, fields: 8, fieldBytes: 64 * 1024 })) {
      if (part.kind === 'field') {
        fields[part.name] = part.value;
        continue;
      }
      if (part.name !== 'archive') throw new BadRequestException(`${part.name}: unexpected file part; the archive goes in the field "archive"`);
      await opts.beforeArchive({ ...fields });
      const name = part.filename || 'archive';
      const key = opts.keyFor(name);
      archive = { key, name, size: 0 };
      archive.size = (await putLimited(opts.store, key, part.stream, { maxBytes: opts.maxBytes, what: 'archive' })).size;
    }
    if (!archive) throw new BadRequestException('archive: upload an archive (multipart file field "archive")');
    if (archive.size === 0) throw new BadRequestException(`archive: ${archive.name} is empty (0 bytes)`);
    const head = await opts.store.getRange(archive.key, 0, Math.min(archive.size, ARCHIVE_HEAD_BYTES));
    // By magic bytes alone: the name proves nothing, and a wrong file is better refused now than by a failed job.
    if (!detectArchiveFormat('', head)) throw new BadRequestException(`archive: ${archive.name} is not a .zip, .tar or .tar.gz archive (by its first bytes)`);
    return { fields, archive };
  } catch (error) {
    if (archive) await opts.store.delete(archive.key).catch(() => undefined);
    throw error;
  }
}
