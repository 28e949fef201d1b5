import { afterAll, expect, it } from '@jest/globals';
import { openBlobStore } from '@padim-fleet/storage';
import { describeWithS3, removeTestBucket, s3TestSettings, testName } from '../support/services';

describeWithS3('openBlobStore', () => {
  const bucket = testName();
  afterAll(() => removeTestBucket(bucket));

  it('creates a missing bucket, so a fresh fleet can start on an empty S3 server', async () => {
    const warnings: string[] = [];
    const store = await openBlobStore(`s3://${bucket}/fleet`, s3TestSettings(), (m) => warnings.push(m));
    await store.ping();
    await store.put('a', 'b');
    expect((await store.get('a')).toString()).toBe('b');
    expect(warnings).toEqual([]);
    await store.close?.();
  });

  it('reports a store it cannot prepare through the warning, without throwing', async () => {
    const warnings: string[] = [];
    const store = await openBlobStore(`s3://${testName()}`, { ...s3TestSettings(), endpoint: 'http://127.0.0.1:9' }, (m) => warnings.push(m));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/unreachable|ECONNREFUSED/);
    await store.close?.();
  });
});
