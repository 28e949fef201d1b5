export * from './archive-entry';
export * from './archive-format';
export * from './archive-limits';
export * from './archive-rejected-error';
export { detectArchiveFile, type ArchiveOptions } from './archive-context';
export * from './extract-archive';
export * from './inspect-archive';
export * from './read-archive-entries';
export type { StreamedEntry } from './archive-stream';
