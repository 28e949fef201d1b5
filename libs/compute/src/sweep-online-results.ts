import { STORE_ROOTS } from '@padim-fleet/contracts';
import { BlobStore, onlineOutputPrefix, uploadPrefix } from '@padim-fleet/storage';

/**
 * Online requests' PNGs, and the images they keep while they are scored (the request removes them when
 * it ends): the root each is listed under, and a request's own prefix there.
 */
const ONLINE_AREAS = [
  { root: STORE_ROOTS.scores, requestPrefix: onlineOutputPrefix },
  { root: STORE_ROOTS.uploads, requestPrefix: uploadPrefix },
];

/**
 * Removes online scoring results whose newest object is older than `maxAgeMs`: a request's PNGs stay
 * reachable for that long, then go, so the store does not grow with every request ever served. Uploaded
 * images that old go too: a request removes its own, unless its API process stopped before it could.
 * Returns the request ids removed.
 */
export async function sweepOnlineResults(store: BlobStore, maxAgeMs: number, now = Date.now()): Promise<string[]> {
  const removed = new Set<string>();
  for (const { root, requestPrefix } of ONLINE_AREAS) {
    for (const request of await expiredRequests(store, root, maxAgeMs, now)) {
      await store.deletePrefix(requestPrefix(request));
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
