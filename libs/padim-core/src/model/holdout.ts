/** Below this many images nothing is held out and the thresholds come from the training images. */
const MIN_IMAGES_FOR_HOLDOUT = 10;

/** Every k-th file (deterministic, spread over the sorted list) is held out. */
export function splitHoldout(files: string[], fraction: number): { fit: string[]; heldOut: string[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`holdout must be in [0, 1), got ${fraction}`);
  const count = files.length >= MIN_IMAGES_FOR_HOLDOUT ? Math.max(2, Math.round(files.length * fraction)) : 0;
  if (fraction === 0 || count === 0) return { fit: files, heldOut: [] };
  const step = files.length / count;
  const held = new Set(Array.from({ length: count }, (_, i) => Math.floor(i * step + step / 2)));
  return { fit: files.filter((_, i) => !held.has(i)), heldOut: files.filter((_, i) => held.has(i)) };
}
