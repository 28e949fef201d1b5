import { BadRequestException, PayloadTooLargeException } from '@nestjs/common';
import busboy from 'busboy';
import type { Request } from 'express';
import type { Readable } from 'node:stream';

export type MultipartPart = { kind: 'field'; name: string; value: string } | { kind: 'file'; name: string; filename: string; stream: Readable };

export interface MultipartLimits {
  files: number;
  fields: number;
  /** Largest text field. */
  fieldBytes: number;
}

/** A 413 before any byte is read when the declared body is larger than `maxBytes`. */
export function rejectDeclaredLength(req: Request, maxBytes: number, what: string): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes)
    throw new PayloadTooLargeException(`${what}: the request declares ${declared} bytes, over the limit of ${maxBytes}`);
}

/**
 * Reads a multipart/form-data body part by part as it arrives, buffering no file: each file part's
 * stream must be read to its end (or resumed) before the next part comes. A malformed or aborted body,
 * or too many parts, is a 400 naming the problem. When the caller stops early (an error, a limit), what
 * the client still sends is read and dropped, not kept, so that it receives the answer.
 */
export async function* readMultipart(req: Request, limits: MultipartLimits): AsyncGenerator<MultipartPart, void, undefined> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      limits: { files: limits.files, fields: limits.fields, fieldSize: limits.fieldBytes, parts: limits.files + limits.fields },
    });
  } catch (error) {
    throw new BadRequestException(`body: must be multipart/form-data (${(error as Error).message})`);
  }
  const parts: MultipartPart[] = [];
  let failure: Error | undefined;
  let finished = false;
  let current: Readable | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const fail = (error: Error) => {
    failure ??= error;
    // A file part being read would otherwise wait for bytes that never come.
    if (current && !current.readableEnded) current.destroy(error);
    notify();
  };
  parser.on('field', (name, value, info) => {
    if (info.valueTruncated) return fail(new PayloadTooLargeException(`${name}: longer than the limit of ${limits.fieldBytes} bytes`));
    parts.push({ kind: 'field', name, value });
    notify();
  });
  parser.on('file', (name, stream, info) => {
    current = stream;
    parts.push({ kind: 'file', name, filename: info.filename ?? '', stream });
    notify();
  });
  parser.on('filesLimit', () => fail(new BadRequestException(`body: more than ${limits.files} file part(s)`)));
  parser.on('fieldsLimit', () => fail(new BadRequestException(`body: more than ${limits.fields} text field(s)`)));
  parser.on('partsLimit', () => fail(new BadRequestException(`body: more than ${limits.files + limits.fields} parts`)));
  parser.on('error', (error) => fail(new BadRequestException(`body: malformed multipart/form-data (${error.message})`)));
  parser.on('close', () => {
    finished = true;
    notify();
  });
  req.on('close', () => {
    if (!req.complete) fail(new BadRequestException('body: the request was aborted before its end'));
  });
  req.pipe(parser);
  try {
    for (;;) {
      if (failure) throw failure;
      const part = parts.shift();
      if (part) {
        yield part;
        continue;
      }
      if (finished) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    req.unpipe(parser);
    for (const part of parts) if (part.kind === 'file') part.stream.resume();
    if (!req.complete) req.resume();
  }
}
