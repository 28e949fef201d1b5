import { RSS_WARM_MS, RssSample, restingRssMB } from './resting-rss';

/** A worker's samples every 2 s from `from` to `to` (ms), its RSS given by `mb(at)`. */
function worker(role: string, startedAt: number, from: number, to: number, mb: (at: number) => number): RssSample[] {
  const samples: RssSample[] = [];
  for (let at = from; at < to; at += 2000) samples.push({ at, mb: mb(at), role, startedAt });
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

  it('is NaN without warm samples, which fails the soak target', () => {
    expect(
      restingRssMB(
        worker('score', 0, 0, RSS_WARM_MS, () => 300),
        all,
      ),
    ).toBeNaN();
  });
});
