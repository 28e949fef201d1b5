import { describe, expect, it } from '@jest/globals';
import { configSecrets, loadFleetConfig, redactCredentials, redactingLog } from './index';

describe('redactCredentials', () => {
  it('hides the password of every URL, keeping the user, host and path', () => {
    expect(redactCredentials('on redis://default:s3cret@10.0.0.5:6379/2 (prefix padim)')).toBe('on redis://default:***@10.0.0.5:6379/2 (prefix padim)');
    expect(redactCredentials('redis://:pw@host and rediss://u:p%40ss@h:1')).toBe('redis://:***@host and rediss://u:***@h:1');
    expect(redactCredentials('http://ak:secret@rgw:7480/bucket?x=1')).toBe('http://ak:***@rgw:7480/bucket?x=1');
    // An unencoded '@' in the password: everything up to the last '@' of the authority is user information.
    expect(redactCredentials('redis://u:p@ss@host/0')).toBe('redis://u:***@host/0');
  });

  it('leaves URLs without a password alone', () => {
    const line = 'store s3://models/fleet, redis://127.0.0.1:6379, http://user@host/, file:///tmp/x';
    expect(redactCredentials(line)).toBe(line);
  });

  it('hides credential query parameters', () => {
    expect(redactCredentials('GET https://b.s3/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abcd&part=1')).toBe(
      'GET https://b.s3/k?X-Amz-Credential=***&X-Amz-Signature=***&part=1',
    );
    expect(redactCredentials('http://h/?password=hunter2')).toBe('http://h/?password=***');
  });

  it('hides the given secrets wherever they appear', () => {
    expect(redactCredentials('SignatureDoesNotMatch for padim-secret-key-0123456789 (key padim-secret-key-0123456789)', ['padim-secret-key-0123456789'])).toBe(
      'SignatureDoesNotMatch for *** (key ***)',
    );
  });
});

describe('configSecrets and redactingLog', () => {
  const config = loadFleetConfig({
    REDIS_URL: 'redis://fleet:p%40ss-word@redis.internal:6379',
    S3_SECRET_ACCESS_KEY: 'the-s3-secret-access-key-value',
    API_KEYS: 'Zr8qT2vLm9XcB4nHw7KdF3jPs6YgA1eQ',
  });

  it('names the S3 secret, the API keys and the URL passwords, raw and decoded', () => {
    expect(configSecrets(config)).toEqual(
      expect.arrayContaining(['the-s3-secret-access-key-value', 'Zr8qT2vLm9XcB4nHw7KdF3jPs6YgA1eQ', 'p%40ss-word', 'p@ss-word']),
    );
  });

  it('redacts every line it passes on', () => {
    const lines: string[] = [];
    const log = redactingLog(config, (line) => lines.push(line));
    log(`worker: roles extract on ${config.REDIS_URL}`);
    log('auth failed with p@ss-word and the-s3-secret-access-key-value');
    expect(lines).toEqual(['worker: roles extract on redis://fleet:***@redis.internal:6379', 'auth failed with *** and ***']);
  });
});
