import { describe, expect, it } from '@jest/globals';
import {
  ContractError,
  inputAccessProblem,
  isUserStoreKey,
  loadFleetConfig,
  parseContract,
  s3BucketNameProblem,
  scoringRequest,
  touchesReservedPrefixes,
} from './index';

describe('s3BucketNameProblem', () => {
  it("follows S3's naming rules", () => {
    for (const good of ['abc', 'my-bucket', 'my.bucket.2', 'a'.repeat(63), 'test-0b6a1c3e-8f2d-4d57-9d1b-2f0c2f7c8e11'])
      expect([good, s3BucketNameProblem(good)]).toEqual([good, null]);
    for (const bad of [
      '',
      'ab',
      'a'.repeat(64),
      'My-Bucket',
      'my_bucket',
      '-abc',
      'abc-',
      'a..b',
      '192.168.1.10',
      'xn--abc',
      'sthree-abc',
      'abc-s3alias',
      'abc--ol-s3',
      'a/b',
    ]) {
      expect([bad, s3BucketNameProblem(bad)]).toEqual([bad, expect.stringMatching(/is not a valid bucket name \(S3 bucket names are 3-63/)]);
    }
  });

  it('checks PADIM_S3_INPUT_BUCKETS, naming the variable', () => {
    expect(loadFleetConfig({}).PADIM_S3_INPUT_BUCKETS).toEqual([]);
    expect(loadFleetConfig({ PADIM_S3_INPUT_BUCKETS: 'incoming, line-3.images' }).PADIM_S3_INPUT_BUCKETS).toEqual(['incoming', 'line-3.images']);
    expect(() => loadFleetConfig({ PADIM_S3_INPUT_BUCKETS: 'incoming,Bad_Name' })).toThrow(/PADIM_S3_INPUT_BUCKETS\.1: "Bad_Name" is not a valid bucket name/);
  });
});

describe('touchesReservedPrefixes and isUserStoreKey', () => {
  it('sees the reserved prefixes however a key is spelled', () => {
    for (const key of [
      'models',
      'models/',
      'models/screw/v1/manifest.json',
      '/models',
      '//runs/x',
      './scores/',
      'a/../uploads/',
      '%6Dodels/',
      'Models/',
      'UPLOADS/x',
      'runs\\x',
      '',
    ]) {
      expect([key, touchesReservedPrefixes(key)]).toEqual([key, true]);
    }
    for (const key of ['incoming/', 'modelsx/', 'datasets/models/', 'my-runs/', 'scoring/']) expect([key, touchesReservedPrefixes(key)]).toEqual([key, false]);
  });

  it("looks under the store's own prefix, and refuses its ancestors (a listing would include it)", () => {
    expect(touchesReservedPrefixes('fleet/models/screw/', 'fleet')).toBe(true);
    expect(touchesReservedPrefixes('fleet//uploads/', 'fleet/')).toBe(true);
    expect(touchesReservedPrefixes('fleet', 'fleet')).toBe(true);
    expect(touchesReservedPrefixes('', 'fleet')).toBe(true);
    expect(touchesReservedPrefixes('models/', 'fleet')).toBe(false);
    expect(touchesReservedPrefixes('fleet/datasets/', 'fleet')).toBe(false);
    expect(touchesReservedPrefixes('fleetx/', 'fleet')).toBe(false);
  });

  it('keeps store: inputs out whatever the spelling', () => {
    for (const location of ['store:./models', 'store:/runs/x/', 'store:%6Dodels/', 'store:scores//x/', 'store:Uploads/', 'store:'])
      expect([location, isUserStoreKey(location)]).toEqual([location, false]);
    expect(isUserStoreKey('store:incoming/screw/')).toBe(true);
    expect(() => parseContract(scoringRequest, { category: 'screw', input: 'store:./models/a.zip' }, 'request', 'body')).toThrow(ContractError);
  });
});

describe('inputAccessProblem', () => {
  const access = { PADIM_S3_INPUT_BUCKETS: ['incoming', 'fleet-store'], PADIM_STORE: 's3://fleet-store/fleet' };

  it('refuses every s3:// input while no bucket is listed', () => {
    expect(inputAccessProblem('s3://incoming/x/', { PADIM_S3_INPUT_BUCKETS: [], PADIM_STORE: '.padim-store' })).toMatch(
      /s3:\/\/ inputs are disabled: set PADIM_S3_INPUT_BUCKETS/,
    );
    expect(inputAccessProblem('store:incoming/', { PADIM_S3_INPUT_BUCKETS: [], PADIM_STORE: '.padim-store' })).toBeNull();
    expect(inputAccessProblem('/data/screw', { PADIM_S3_INPUT_BUCKETS: [], PADIM_STORE: '.padim-store' })).toBeNull();
  });

  it('allows listed buckets only', () => {
    expect(inputAccessProblem('s3://incoming/line-3/a.tar.gz', access)).toBeNull();
    expect(inputAccessProblem('s3://other/x/', access)).toBe('bucket other is not in PADIM_S3_INPUT_BUCKETS');
    expect(inputAccessProblem('s3://', access)).toMatch(/must name a bucket/);
  });

  it("keeps the store's reserved prefixes out in its own bucket, whatever the case of the bucket", () => {
    for (const location of [
      's3://fleet-store/fleet/uploads/',
      's3://fleet-store//fleet/models',
      's3://FLEET-STORE/fleet/runs/',
      's3://fleet-store/fleet/%73corings/',
      's3://fleet-store/',
      's3://fleet-store',
    ]) {
      expect([location, inputAccessProblem(location, access)]).toEqual([
        location,
        expect.stringMatching(/must not name the fleet's own prefixes|not a valid bucket name/),
      ]);
    }
    expect(inputAccessProblem('s3://fleet-store/fleet/datasets/', access)).toBeNull();
    expect(inputAccessProblem('s3://fleet-store/elsewhere/', access)).toBeNull();
    // Another bucket's keys may be called anything.
    expect(inputAccessProblem('s3://incoming/models/', access)).toBeNull();
  });
});
