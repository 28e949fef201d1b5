import { describe, expect, it } from '@jest/globals';
import {
  ContractError,
  isUserStoreKey,
  loadFleetConfig,
  onlineImageName,
  parseContract,
  parseDatasetLocation,
  scoringRequest,
  trainingRequest,
  trainingRequestBody,
  versionFor,
} from './index';

describe('loadFleetConfig', () => {
  it('gives the embedded defaults for an empty environment', () => {
    const config = loadFleetConfig({});
    expect(config.PADIM_STORE).toBe('.padim-store');
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.WORKER_ROLES).toEqual(['extract', 'reduce']);
    expect(config.API_KEYS).toEqual([]);
  });

  it('parses lists and numbers, and names every bad variable', () => {
    const config = loadFleetConfig({ WORKER_ROLES: 'score, extract', EXTRACT_CONCURRENCY: '3', PADIM_DATASET_ROOTS: '/a,/b' });
    expect(config.WORKER_ROLES).toEqual(['score', 'extract']);
    expect(config.EXTRACT_CONCURRENCY).toBe(3);
    expect(config.PADIM_DATASET_ROOTS).toEqual(['/a', '/b']);
    let error: unknown;
    try {
      loadFleetConfig({ REDIS_URL: 'localhost', WORKER_ROLES: 'extract,train', API_KEYS: 'short', EXTRACT_CONCURRENCY: '0' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ContractError);
    const paths = (error as ContractError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['REDIS_URL', 'WORKER_ROLES.1', 'API_KEYS.0', 'EXTRACT_CONCURRENCY']));
  });

  it("reads the worker's metrics server settings: none by default, a port (0 picks one) and a bind address", () => {
    const defaults = loadFleetConfig({});
    expect([defaults.WORKER_METRICS_PORT, defaults.WORKER_METRICS_HOST]).toEqual([undefined, '127.0.0.1']);
    expect(loadFleetConfig({ WORKER_METRICS_PORT: '9464', WORKER_METRICS_HOST: '0.0.0.0' })).toMatchObject({
      WORKER_METRICS_PORT: 9464,
      WORKER_METRICS_HOST: '0.0.0.0',
    });
    expect(loadFleetConfig({ WORKER_METRICS_PORT: '0' }).WORKER_METRICS_PORT).toBe(0);
    expect(() => loadFleetConfig({ WORKER_METRICS_PORT: '70000' })).toThrow(/WORKER_METRICS_PORT/);
    expect(() => loadFleetConfig({ WORKER_METRICS_PORT: 'metrics' })).toThrow(/WORKER_METRICS_PORT/);
  });

  it('reads LOG_LEVEL (default info), and refuses an unknown level naming the variable and the levels', () => {
    expect(loadFleetConfig({}).LOG_LEVEL).toBe('info');
    expect(loadFleetConfig({ LOG_LEVEL: 'debug' }).LOG_LEVEL).toBe('debug');
    expect(loadFleetConfig({ LOG_LEVEL: 'silent' }).LOG_LEVEL).toBe('silent');
    expect(() => loadFleetConfig({ LOG_LEVEL: 'verbose' })).toThrow(/^configuration is invalid: LOG_LEVEL: .*"trace".*"silent"/);
  });
});

describe('trainingRequest', () => {
  const base = { category: 'screw', dataset: '/data/screw/train/good' };

  it('fills the defaults', () => {
    expect(trainingRequest.parse(base)).toEqual({ ...base, backbone: 'resnet18', embedding: 'random', seed: 42, size: 256, holdout: 0.1, promote: true });
  });

  it('names each bad field', () => {
    const bad = () => parseContract(trainingRequest, { ...base, category: '../x', d: 449, crop: 300, shards: 0, extra: 1 }, 'request', 'body');
    expect(bad).toThrow(/body\.category: must be 1-64/);
    expect(bad).toThrow(/unrecognized key|extra/i);
    expect(() => parseContract(trainingRequest, { ...base, d: 449, crop: 300 }, 'request', 'body')).toThrow(
      /body\.d: must be at most 448 for resnet18; body\.crop: must be at most size \(256\)/,
    );
    expect(() => parseContract(trainingRequest, { ...base, dataset: 'data/screw' }, 'request', 'body')).toThrow(/body\.dataset: must be s3:\/\/bucket\/prefix/);
    expect(() => parseContract(trainingRequest, { ...base, dataset: 's3://bucket-a/data/../etc/' }, 'request', 'body')).toThrow(/"\.\." segments/);
    expect(() => parseContract(trainingRequest, { ...base, dataset: 'store:data/../models/' }, 'request', 'body')).toThrow(/"\.\." segments/);
    // A server folder may say '..': the API resolves it and checks the result against the roots.
    expect(trainingRequest.parse({ ...base, dataset: '/data/roots/../screw' }).dataset).toBe('/data/roots/../screw');
    expect(() => parseContract(trainingRequest, { ...base, dataset: 's3://' }, 'request', 'body')).toThrow(/body\.dataset: must name a bucket/);
    expect(() => parseContract(trainingRequest, { ...base, dataset: 's3://My_Bucket/x/' }, 'request', 'body')).toThrow(
      /body\.dataset: "My_Bucket" is not a valid bucket name \(S3 bucket names/,
    );
  });

  it('takes a threshold rule: mean + k·std, or a target false-positive rate with or without its kind', () => {
    expect(trainingRequest.parse(base).thresholdRule).toBeUndefined();
    expect(trainingRequest.parse({ ...base, thresholdRule: { fpr: 0.01 } }).thresholdRule).toEqual({ kind: 'fpr', fpr: 0.01 });
    expect(trainingRequest.parse({ ...base, thresholdRule: { kind: 'fpr', fpr: 0.05 } }).thresholdRule).toEqual({ kind: 'fpr', fpr: 0.05 });
    expect(trainingRequest.parse({ ...base, thresholdRule: { kind: 'sigma', k: 2.5 } }).thresholdRule).toEqual({ kind: 'sigma', k: 2.5 });
    expect(() => parseContract(trainingRequest, { ...base, thresholdRule: { fpr: 1.5 } }, 'request', 'body')).toThrow(/body\.thresholdRule\.fpr: .*1/);
    expect(() => parseContract(trainingRequest, { ...base, thresholdRule: { kind: 'sigma' } }, 'request', 'body')).toThrow(/body\.thresholdRule\.k/);
    expect(() => parseContract(trainingRequest, { ...base, thresholdRule: { kind: 'median' } }, 'request', 'body')).toThrow(/body\.thresholdRule\.kind/);
    expect(() => parseContract(trainingRequest, { ...base, validation: '/data/screw/test', thresholdRule: { fpr: 0.01 } }, 'request', 'body')).toThrow(
      /body\.thresholdRule: must not be given with validation/,
    );
  });

  it("keeps API requests out of the fleet's own prefixes", () => {
    expect(() => parseContract(trainingRequestBody, { ...base, dataset: 'store:runs/x/' }, 'request', 'body')).toThrow(/body\.dataset: must not name/);
    expect(trainingRequestBody.parse({ ...base, dataset: 'store:incoming/screw/' }).dataset).toBe('store:incoming/screw/');
    expect(isUserStoreKey('store:models')).toBe(false);
    expect(isUserStoreKey('store:modelsx/')).toBe(true);
    expect(() => scoringRequest.parse({ category: 'screw', input: 'store:scorings/x/' })).toThrow(/must not name/);
    expect(scoringRequest.parse({ category: 'screw', input: 's3://bucket/a.tar.gz' }).chunkSize).toBe(64);
  });
});

describe('dataset locations and versions', () => {
  it('parses the three kinds of dataset location', () => {
    expect(parseDatasetLocation('s3://bucket/a/b')).toEqual({ kind: 's3', bucket: 'bucket', prefix: 'a/b/' });
    expect(parseDatasetLocation('s3://bucket')).toEqual({ kind: 's3', bucket: 'bucket', prefix: '' });
    expect(parseDatasetLocation('store:incoming')).toEqual({ kind: 'store', prefix: 'incoming/' });
    expect(parseDatasetLocation('/srv/data')).toEqual({ kind: 'folder', root: '/srv/data' });
  });

  it('names versions by time and run, sortable and the same on every retry', () => {
    const a = versionFor('1a2b3c4d-0000-4000-8000-000000000000', new Date('2026-11-29T23:03:48.123Z'));
    expect(a).toBe('20261129T230348Z-1a2b3c4d');
    expect(versionFor('1a2b3c4d-0000-4000-8000-000000000000', new Date('2026-11-29T23:03:48.123Z'))).toBe(a);
    expect(versionFor('00000000-0000', new Date('2026-11-30T00:00:00Z')) > a).toBe(true);
  });
});

describe('API keys', () => {
  const problem = (key: string) => {
    try {
      loadFleetConfig({ API_KEYS: key });
      return null;
    } catch (error) {
      return (error as ContractError).message;
    }
  };

  it('accepts long keys with some variety, one or several', () => {
    expect(loadFleetConfig({ API_KEYS: 'Zr8qT2vLm9XcB4nHw7KdF3jPs6YgA1eQ, e2e-exposure-Kq7vR2mX9tLw4ZcB8nYd' }).API_KEYS).toEqual([
      'Zr8qT2vLm9XcB4nHw7KdF3jPs6YgA1eQ',
      'e2e-exposure-Kq7vR2mX9tLw4ZcB8nYd',
    ]);
  });

  it('refuses short keys, one character repeated, few distinct characters and short patterns repeated, naming the variable', () => {
    for (const key of [
      'aaaaaaaaaaaaaaaa',
      'change-me-to-a-long-secret',
      'a'.repeat(64),
      'ab'.repeat(20),
      'aabbccddeeffgg'.repeat(3),
      'abcdefgh'.repeat(4),
      'Secret12'.repeat(5).slice(0, 37),
    ]) {
      expect([key, problem(key)]).toEqual([key, expect.stringMatching(/API_KEYS\.0: each API key must be at least 32 characters/)]);
    }
    expect(problem('Zr8qT2vLm9XcB4nHw7KdF3jPs6YgA1eQ,short')).toMatch(/API_KEYS\.1:/);
  });
});

describe('onlineImageName', () => {
  it('takes a file name of up to 255 characters, any but control characters', () => {
    for (const name of ['000.png', 'frame 12 (cam 3).JPG', 'ünï.png', 'x'.repeat(255)]) expect(onlineImageName.parse(name)).toBe(name);
  });

  it('refuses an empty, too long or control-character name, saying which', () => {
    expect(() => parseContract(onlineImageName, '', 'name')).toThrow(/must not be empty/);
    expect(() => parseContract(onlineImageName, 'x'.repeat(256), 'name')).toThrow(/must be at most 255 characters/);
    expect(() => parseContract(onlineImageName, 'a\nb.png', 'name')).toThrow(/must not contain control characters/);
  });
});
