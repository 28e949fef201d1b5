/** A worker's first minute (backbone sessions, models, finalisation threads opening) is not its resting RSS. */
export const RSS_WARM_MS = 60_000;

/** One RSS sample of a worker: when, how much, the worker's role and when it started. */
export interface RssSample {
  at: number;
  mb: number;
  role: string;
  startedAt: number;
}

/**
 * The workers' resting RSS over the samples `within` accepts: per role, the median of the samples of its
 * workers up RSS_WARM_MS or more, then the mean over the roles. A worker's RSS swings by 100 MB and more
 * with the job it is in (an extract worker between a shard and a reduce), and a replacement takes a minute
 * to warm up: a leak raises the median, a job's working set and a cold replacement do not.
 */
export function restingRssMB(samples: RssSample[], within: (at: number) => boolean): number {
  const byRole = new Map<string, number[]>();
  for (const x of samples) {
    if (within(x.at) && x.at - x.startedAt >= RSS_WARM_MS) byRole.set(x.role, [...(byRole.get(x.role) ?? []), x.mb]);
  }
  return mean([...byRole.values()].map(median));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function mean(values: number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}
