import { trainingRequest } from '@padim-fleet/contracts';
import { describeWithShared } from '../../../../libs/inference/src/testing/shared-data';
import { FeatureExtractorRepository } from './feature-extractor.repository';

const request = (seed: number) => trainingRequest.parse({ category: 'c', dataset: '/data', backbone: 'resnet18', d: 10, seed, size: 64 });

describeWithShared('FeatureExtractorRepository', () => {
  it('lends one warm extractor per backbone and embedding, and closes another only when its last borrower gives it back', async () => {
    const repo = new FeatureExtractorRepository({ threads: 1 });
    const batch = new Float32Array(3 * 64 * 64).fill(0.5);
    try {
      const first = await repo.acquire(request(1));
      const again = await repo.acquire(request(1));
      expect(again.extractor).toBe(first.extractor);
      await again.release();
      await again.release(); // giving back twice counts once

      // Another embedding becomes the current one while the first is still lent: the first keeps working.
      const other = await repo.acquire(request(2));
      expect(other.extractor).not.toBe(first.extractor);
      expect((await first.extractor.run(batch, 1)).length).toBe(10 * 16 * 16);

      // Given back, the old one is closed; the current one stays warm for the next borrower.
      await first.release();
      await expect(first.extractor.run(batch, 1)).rejects.toThrow(/released/);
      await other.release();
      const next = await repo.acquire(request(2));
      expect(next.extractor).toBe(other.extractor);
      await next.release();
    } finally {
      await repo.release();
    }
  }, 60_000);
});
