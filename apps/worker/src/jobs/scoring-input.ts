import { UnrecoverableError } from 'bullmq';
import { s3Connection } from '@padim-fleet/contracts';
import { BlobStore, S3BlobStore } from '@padim-fleet/storage';
import { JobContext } from './job-context';

/** Where a scoring's input lives: the fleet's own store (`store:<key>`, uploads) or another bucket. */
export function openInput(ctx: JobContext, input: string): { store: BlobStore; key: string; source: string; close: () => Promise<void> } {
  if (input.startsWith('store:')) return { store: ctx.store, key: input.slice('store:'.length), source: 'store', close: async () => undefined };
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(input);
  if (!match) throw new UnrecoverableError(`input ${input}: must be s3://bucket/key or s3://bucket/prefix/`);
  const store = new S3BlobStore({ ...s3Connection(ctx.config), bucket: match[1] });
  return { store, key: match[2], source: `s3://${match[1]}`, close: async () => store.close?.() };
}
