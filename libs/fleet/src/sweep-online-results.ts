import type { BlobStore } from '@padim-fleet/storage';

export const ONLINE_RESULTS_ROOT = 'scores/';

/**
 * Removes online scoring results whose newest object is older than `maxAgeMs`: a request's PNGs stay
 * reachable for that long, then go, so the store does not grow with every request ever served.
 * Returns the request ids removed.
 */
export async function sweepOnlineResults(store: BlobStore, maxAgeMs: number, now = Date.now()): Promise<string[]> {
  const newest = new Map<string, number>();
  for await (const info of store.list(ONLINE_RESULTS_ROOT)) {
    const request = info.key.slice(ONLINE_RESULTS_ROOT.length).split('/')[0];
    const at = info.lastModified?.getTime() ?? now;
    newest.set(request, Math.max(newest.get(request) ?? 0, at));
  }
  const expired = [...newest].filter(([, at]) => now - at > maxAgeMs).map(([request]) => request);
  for (const request of expired) await store.deletePrefix(`${ONLINE_RESULTS_ROOT}${request}/`);
  return expired;
}
