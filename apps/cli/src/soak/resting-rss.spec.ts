import { MIN_IDLE_SAMPLES, RSS_WARM_MS, RssSample, jobsInFlight, restingRssMB } from './resting-rss';

/** A worker's samples every 2 s from `from` to `to` (ms), its RSS given by `mb(at)`. */
function worker(role: string, startedAt: number, from: number, to: number, mb: (at: number) => number, idle?: (at: number) => boolean): RssSample[] {
  const samples: RssSample[] = [];
  for (let at = from; at < to; at += 2000) samples.push({ at, mb: mb(at), role, startedAt, idle: idle?.(at) });
  return samples;
}

const all = () => true;

describe('restingRssMB', () => {
  it("is a role's median, so a job's working set for a third of the time does not move it", () => {
    // 400 MB at rest, 520 MB during a reduce (every third sample).
    const swinging = worker('extract', 0, RSS_WARM_MS, RSS_WARM_MS + 120_000, (at) => (Math.round(at / 2000) % 3 === 0 ? 520 : 400));
    expect(restingRssMB(swinging, all)).toBe(400);
  });

  it('leaves out a worker in its first minute, and averages the roles', () => {
    const cold = worker('extract', 100_000, 100_000, 100_000 + RSS_WARM_MS, () => 120);
    const warm = worker('extract', 0, RSS_WARM_MS, 200_000, () => 400);
    const score = worker('score', 0, RSS_WARM_MS, 200_000, () => 300);
    expect(restingRssMB([...cold, ...warm, ...score], all)).toBe(350);
  });

  it('rises with a leak: the growth of every sample is the growth of the median', () => {
    const leaking = worker('score', 0, RSS_WARM_MS, 400_000, (at) => 300 + at / 10_000);
    const second = restingRssMB(leaking, (at) => at >= 100_000 && at < 200_000);
    const last = restingRssMB(leaking, (at) => at >= 300_000 && at < 400_000);
    expect(last - second).toBeCloseTo(20, 0);
  });

  it('compares samples taken between jobs: a stretch busier with jobs does not move it', () => {
    // At rest 400 MB; in a job 550 MB. The second stretch is busy 80 % of the time, the last 20 %.
    const busyShare = (at: number) => (at < 200_000 ? 0.8 : 0.2);
    const inJob = (at: number) => (Math.round(at / 2000) % 10) / 10 < busyShare(at);
    const extract = worker(
      'extract',
      0,
      RSS_WARM_MS,
      300_000,
      (at) => (inJob(at) ? 550 : 400),
      (at) => !inJob(at),
    );
    expect(restingRssMB(extract, (at) => at < 200_000)).toBe(400);
    expect(restingRssMB(extract, (at) => at >= 200_000)).toBe(400);
    // Without the job state, the busy stretch reads as the job's working set.
    const unmarked = extract.map(({ idle: _idle, ...x }) => x);
    expect(restingRssMB(unmarked, (at) => at < 200_000)).toBe(550);
  });

  it(`falls back to every warm sample for a role with fewer than ${MIN_IDLE_SAMPLES} idle ones`, () => {
    const score = worker(
      'score',
      0,
      RSS_WARM_MS,
      RSS_WARM_MS + 20_000,
      (at) => (at === RSS_WARM_MS ? 280 : 300),
      (at) => at === RSS_WARM_MS,
    );
    expect(restingRssMB(score, all)).toBe(300);
  });

  it('is NaN without warm samples, which fails the soak target', () => {
    expect(
      restingRssMB(
        worker('score', 0, 0, RSS_WARM_MS, () => 300),
        all,
      ),
    ).toBeNaN();
  });
});

describe('jobsInFlight', () => {
  it('sums the gauge over its queues, and is null where the worker does not export it', () => {
    const text = [
      '# HELP padim_worker_jobs_in_flight Jobs this worker is running now, by queue',
      '# TYPE padim_worker_jobs_in_flight gauge',
      'padim_worker_jobs_in_flight{queue="extract"} 1',
      'padim_worker_jobs_in_flight{queue="reduce"} 0',
      'padim_worker_jobs_in_flight_other 5',
      'process_resident_memory_bytes 123',
    ].join('\n');
    expect(jobsInFlight(text)).toBe(1);
    expect(jobsInFlight('padim_worker_jobs_in_flight{queue="score"} 0\n')).toBe(0);
    expect(jobsInFlight('process_resident_memory_bytes 123\n')).toBeNull();
  });
});
