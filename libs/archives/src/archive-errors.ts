import { ArchiveRejectedError } from './archive-rejected-error';

/** The `code` of a Node error, if any. */
export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** ENOENT, EACCES, EIO...: trouble reading the file, not a fault of the archive, so passed on unchanged. */
export function isSystemError(err: unknown): err is Error {
  const code = errorCode(err);
  return err instanceof Error && code !== undefined && /^E[A-Z]+$/.test(code);
}

/** A library's error message, shortened: it can quote attacker-chosen names at any length. */
export function shortMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

export function rejection(label: string, reason: string): ArchiveRejectedError {
  return new ArchiveRejectedError(label, reason);
}
