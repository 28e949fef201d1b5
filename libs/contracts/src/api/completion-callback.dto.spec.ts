import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  ContractError,
  callbackUrlProblem,
  completionEvent,
  configSecrets,
  loadFleetConfig,
  parseContract,
  scoringRequest,
  signCallbackBody,
  trainingRequest,
  verifyCallbackSignature,
} from '../index';

const SECRET = 'callback-secret-0123456789abcdefghij';

function configError(env: Record<string, string>): ContractError {
  try {
    loadFleetConfig(env);
  } catch (error) {
    return error as ContractError;
  }
  throw new Error('expected the configuration to be refused');
}

describe('signCallbackBody and verifyCallbackSignature', () => {
  const body = JSON.stringify({ event: 'training.succeeded', id: 'run-0001', sentAt: '2026-01-01T00:00:00.000Z' });

  it('signs with HMAC-SHA256 of the raw body, as sha256=<hex>', () => {
    // The same computation spelled out with node:crypto, as a receiver in another language would do it.
    const hex = createHmac('sha256', SECRET).update(Buffer.from(body, 'utf8')).digest('hex');
    expect(signCallbackBody(body, SECRET)).toBe(`sha256=${hex}`);
    expect(signCallbackBody(Buffer.from(body), SECRET)).toBe(`sha256=${hex}`);
  });

  it('accepts the signature of the same bytes with the same key, and nothing else', () => {
    const signature = signCallbackBody(body, SECRET);
    expect(verifyCallbackSignature(body, signature, SECRET)).toBe(true);
    expect(verifyCallbackSignature(Buffer.from(body), signature, SECRET)).toBe(true);
    expect(verifyCallbackSignature(body.replace('run-0001', 'run-0002'), signature, SECRET)).toBe(false);
    expect(verifyCallbackSignature(`${body} `, signature, SECRET)).toBe(false);
    expect(verifyCallbackSignature(body, signature, `${SECRET}x`)).toBe(false);
    expect(verifyCallbackSignature(body, signature.toUpperCase(), SECRET)).toBe(false);
    expect(verifyCallbackSignature(body, signature.slice(0, -1), SECRET)).toBe(false);
    expect(verifyCallbackSignature(body, undefined, SECRET)).toBe(false);
    expect(verifyCallbackSignature(body, [signature], SECRET)).toBe(false);
    expect(verifyCallbackSignature(body, '', SECRET)).toBe(false);
  });
});

describe('callbackUrl in requests', () => {
  const training = { category: 'screw', dataset: '/data/screw' };
  const bad = (url: string) => () => parseContract(trainingRequest, { ...training, callbackUrl: url }, 'request', 'body');

  it('takes http and https URLs', () => {
    expect(trainingRequest.parse({ ...training, callbackUrl: 'https://hooks.example.com/padim?x=1' }).callbackUrl).toBe('https://hooks.example.com/padim?x=1');
    expect(scoringRequest.parse({ category: 'screw', input: 'store:in/', callbackUrl: 'http://10.0.0.7:9000/done' }).callbackUrl).toBe(
      'http://10.0.0.7:9000/done',
    );
    expect(trainingRequest.parse(training).callbackUrl).toBeUndefined();
  });

  it('refuses other schemes, credentials, relative URLs and URLs over 2048 characters, naming the field', () => {
    expect(bad('ftp://hooks.example.com/x')).toThrow(/body\.callbackUrl: must be an http:\/\/ or https:\/\/ URL/);
    expect(bad('file:///etc/passwd')).toThrow(/body\.callbackUrl: must be an http/);
    expect(bad('/v1/hook')).toThrow(/body\.callbackUrl: must be an absolute http/);
    expect(bad('https://user:pw@hooks.example.com/x')).toThrow(/body\.callbackUrl: must not hold credentials/);
    expect(bad('https://token@hooks.example.com/x')).toThrow(/body\.callbackUrl: must not hold credentials/);
    expect(bad(`https://hooks.example.com/${'a'.repeat(2048)}`)).toThrow(/body\.callbackUrl: must be at most 2048 characters/);
    expect(() => parseContract(scoringRequest, { category: 'screw', input: 'store:in/', callbackUrl: 'gopher://x' }, 'request', 'body')).toThrow(
      /body\.callbackUrl: must be an http/,
    );
  });
});

describe('PADIM_CALLBACK_HOSTS and callbackUrlProblem', () => {
  const config = loadFleetConfig({
    PADIM_CALLBACK_HOSTS: 'hooks.example.com, ops.example.com:8443,127.0.0.1:4567,[::1]:9000, HOOKS2.Example.com.',
    PADIM_CALLBACK_SECRET: SECRET,
  });

  it('parses each entry once into a host and, if given, a port', () => {
    expect(config.PADIM_CALLBACK_HOSTS).toEqual([
      { host: 'hooks.example.com', port: null },
      { host: 'ops.example.com', port: 8443 },
      { host: '127.0.0.1', port: 4567 },
      { host: '[::1]', port: 9000 },
      { host: 'hooks2.example.com', port: null },
    ]);
  });

  it('allows a listed host on its listed port, or on the default port when the entry names none', () => {
    for (const url of [
      'https://hooks.example.com/padim',
      'http://hooks.example.com/padim',
      'https://HOOKS.example.com:443/x',
      'https://ops.example.com:8443/done',
      'http://127.0.0.1:4567/cb',
      'http://[0:0:0:0:0:0:0:1]:9000/cb',
      'https://hooks2.example.com./x',
    ])
      expect([url, callbackUrlProblem(url, config)]).toEqual([url, null]);
  });

  it('refuses other hosts and other ports, whatever their spelling', () => {
    expect(callbackUrlProblem('https://evil.example.com/x', config)).toBe('host evil.example.com:443 is not in PADIM_CALLBACK_HOSTS');
    expect(callbackUrlProblem('https://hooks.example.com:8080/x', config)).toBe('host hooks.example.com:8080 is not in PADIM_CALLBACK_HOSTS');
    expect(callbackUrlProblem('https://ops.example.com/x', config)).toBe('host ops.example.com:443 is not in PADIM_CALLBACK_HOSTS');
    expect(callbackUrlProblem('http://127.0.0.1:6379/x', config)).toBe('host 127.0.0.1:6379 is not in PADIM_CALLBACK_HOSTS');
    // Other spellings of a listed address reach the same host, and only on its port.
    expect(callbackUrlProblem('http://2130706433:4567/x', config)).toBeNull();
    expect(callbackUrlProblem('http://2130706433:7480/x', config)).toBe('host 127.0.0.1:7480 is not in PADIM_CALLBACK_HOSTS');
    expect(callbackUrlProblem('http://hooks.example.com.evil.net/x', config)).toMatch(/not in PADIM_CALLBACK_HOSTS/);
    expect(callbackUrlProblem('https://a:b@hooks.example.com/x', config)).toMatch(/must not hold credentials/);
  });

  it('refuses every callback when no host is listed, naming the setting', () => {
    expect(callbackUrlProblem('https://hooks.example.com/x', loadFleetConfig({}))).toBe(
      'callbacks are disabled: set PADIM_CALLBACK_HOSTS to the hosts callbacks may be sent to',
    );
  });

  it('requires a secret of at least 32 characters when hosts are listed, and refuses malformed entries', () => {
    expect(configError({ PADIM_CALLBACK_HOSTS: 'hooks.example.com' }).message).toMatch(/PADIM_CALLBACK_SECRET: required when PADIM_CALLBACK_HOSTS lists hosts/);
    expect(configError({ PADIM_CALLBACK_HOSTS: 'hooks.example.com', PADIM_CALLBACK_SECRET: 'short' }).message).toMatch(
      /PADIM_CALLBACK_SECRET: must be at least 32 characters/,
    );
    for (const entry of [
      'https://hooks.example.com',
      'hooks.example.com/path',
      'user@hooks.example.com',
      'hooks.example.com:0',
      'hooks.example.com:70000',
      '-x',
    ])
      expect([entry, configError({ PADIM_CALLBACK_HOSTS: entry, PADIM_CALLBACK_SECRET: SECRET }).issues.map((i) => i.path)]).toEqual([
        entry,
        ['PADIM_CALLBACK_HOSTS.0'],
      ]);
    expect(loadFleetConfig({}).PADIM_CALLBACK_HOSTS).toEqual([]);
  });

  it('keeps the secret out of log lines', () => {
    expect(configSecrets(config)).toContain(SECRET);
  });
});

describe('completionEvent', () => {
  it('is the documented body of a callback', () => {
    const event = {
      event: 'scoring.succeeded',
      deliveryId: 'scoring-5f1c7a2e-0000-4000-8000-000000000004',
      id: '5f1c7a2e-0000-4000-8000-000000000004',
      category: 'screw',
      version: 'v1',
      state: 'completed',
      summary: { images: 4, scored: 4, failed: 0, anomalous: 1 },
      status: '/v1/scorings/5f1c7a2e-0000-4000-8000-000000000004',
      finishedAt: '2026-01-01T00:00:00.000Z',
      sentAt: '2026-01-01T00:00:01.000Z',
    };
    expect(completionEvent.parse(event)).toEqual(event);
    expect(completionEvent.safeParse({ ...event, event: 'scoring.done' }).success).toBe(false);
    expect(completionEvent.safeParse({ ...event, extra: 1 }).success).toBe(false);
  });
});
