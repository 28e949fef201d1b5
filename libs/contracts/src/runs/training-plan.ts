import { z } from 'zod';
import { trainingRequest } from '../api/training-request.dto';
import { runId, versionName } from '../names';

/** Where a run's images come from, resolved from the request's dataset string. */
export const datasetSource = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('folder'), root: z.string().min(1) }).strict(),
  z.object({ kind: z.literal('s3'), bucket: z.string().min(3).max(63), prefix: z.string() }).strict(),
  /** A prefix in the fleet's own store: the images of an uploaded archive, unpacked there by the API. */
  z.object({ kind: z.literal('store'), prefix: z.string().min(1) }).strict(),
]);
export type DatasetSource = z.infer<typeof datasetSource>;

/**
 * Everything a run's jobs need, written once to `runs/<runId>/plan.json` before the flow is queued,
 * so job payloads stay small and every retry reads the same image lists.
 */
export const trainingPlan = z
  .object({
    runId,
    version: versionName,
    createdAt: z.string(),
    request: trainingRequest,
    source: datasetSource,
    /** Image references (folder paths or object keys) per shard, for fitting. */
    shards: z.array(z.array(z.string().min(1))).min(1),
    /** Images kept out of the fit to set thresholds. */
    heldOut: z.array(z.string().min(1)),
  })
  .strict();
export type TrainingPlan = z.infer<typeof trainingPlan>;

export function parseDatasetLocation(location: string): DatasetSource {
  if (location.startsWith('store:')) {
    const prefix = location.slice('store:'.length);
    return { kind: 'store', prefix: prefix.endsWith('/') ? prefix : `${prefix}/` };
  }
  if (location.startsWith('s3://')) {
    const rest = location.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1);
    return { kind: 's3', bucket, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
  }
  return { kind: 'folder', root: location };
}

/** Sortable, unique per run, and the same on every retry: `20261129T230348Z-1a2b3c4d`. */
export function versionFor(runIdValue: string, createdAt: Date): string {
  const stamp = createdAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${runIdValue.replace(/-/g, '').slice(0, 8)}`;
}
