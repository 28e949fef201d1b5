import type { BlobStore } from '@padim-fleet/storage';

export const ONLINE_RESULTS_ROOT = 'scores/';
/** Where online requests keep their images while they are scored; the request removes them when it ends. */
export const ONLINE_UPLOADS_ROOT = 'uploads/';

/**
 * Removes online scoring results whose newest object is older than `maxAgeMs`: a request's PNGs stay
 * reachable for that long, then go, so the store does not grow with every request ever served. Uploaded
 * images that old go too: a request removes its own, unless its API process stopped before it could.
 * Returns the request ids removed.
 */
export async function sweepOnlineResults(store: BlobStore, maxAgeMs: number, now = Date.now()): Promise<string[]> {
  const removed = new Set<string>();
  for (const root of [ONLINE_RESULTS_ROOT, ONLINE_UPLOADS_ROOT]) {
    for (const request of await expiredRequests(store, root, maxAgeMs, now)) {
      await store.deletePrefix(`${root}${request}/`);
      removed.add(request);
    }
  }
  return [...removed];
}

/** The requests under `root` whose newest object is older than `maxAgeMs`. */
async function expiredRequests(store: BlobStore, root: string, maxAgeMs: number, now: number): Promise<string[]> {
  const newest = new Map<string, number>();
  for await (const info of store.list(root)) {
    const request = info.key.slice(root.length).split('/')[0];
    const at = info.lastModified?.getTime() ?? now;
    newest.set(request, Math.max(newest.get(request) ?? 0, at));
  }
  return [...newest].filter(([, at]) => now - at > maxAgeMs).map(([request]) => request);
}
