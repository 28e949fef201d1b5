/** A worker's first minute (backbone sessions, models, finalisation threads opening) is not its resting RSS. */
export const RSS_WARM_MS = 60_000;

/** A role needs this many samples taken between jobs in a stretch for those alone to give its level. */
export const MIN_IDLE_SAMPLES = 3;

/**
 * One RSS sample of a worker: when, how much, the worker's role and when it started, and whether it had
 * no job in flight then (its `padim_worker_jobs_in_flight`; undefined when that could not be read).
 */
export interface RssSample {
  at: number;
  mb: number;
  role: string;
  startedAt: number;
  idle?: boolean;
}

/**
 * The workers' resting RSS over the samples `within` accepts: per role, the median of the samples of its
 * workers up RSS_WARM_MS or more, taken between jobs; then the mean over the roles. A worker's RSS swings
 * by 100 MB and more with the job it is in (an extract worker between a shard and a reduce), and a
 * replacement takes a minute to warm up: comparing samples in the same state (no job in flight) shows a
 * leak, and neither a job's working set nor a cold replacement moves it. A role with fewer than
 * MIN_IDLE_SAMPLES idle samples in the stretch (score workers under steady online load) falls back to the
 * median of all its warm samples.
 */
export function restingRssMB(samples: RssSample[], within: (at: number) => boolean): number {
  const byRole = new Map<string, { all: number[]; idle: number[] }>();
  for (const x of samples) {
    if (!within(x.at) || x.at - x.startedAt < RSS_WARM_MS) continue;
    const role = byRole.get(x.role) ?? { all: [], idle: [] };
    role.all.push(x.mb);
    if (x.idle === true) role.idle.push(x.mb);
    byRole.set(x.role, role);
  }
  return mean([...byRole.values()].map((r) => median(r.idle.length >= MIN_IDLE_SAMPLES ? r.idle : r.all)));
}

/** The jobs a worker has in flight, summed over queues, from its Prometheus text; null when the gauge is absent. */
export function jobsInFlight(metricsText: string): number | null {
  let total: number | null = null;
  for (const line of metricsText.split('\n')) {
    const match = /^padim_worker_jobs_in_flight(?:\{[^}]*\})?\s+(\S+)$/.exec(line.trim());
    if (match) total = (total ?? 0) + Number(match[1]);
  }
  return total;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function mean(values: number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}
