import { describe, expect, it } from '@jest/globals';
import { basicOrBearerProblem, bearerProblem } from './api-key.guard';

const KEY = 'unit-api-key-Xc8vB2nM5qW9eR4tY7uI';
const keys = [Buffer.from('another-key-Lk3jH6gF9dS2aP5oI8uY'), Buffer.from(KEY)];
const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

describe('bearerProblem', () => {
  it('accepts any of the keys as a bearer token and names what is wrong otherwise', () => {
    expect(bearerProblem(`Bearer ${KEY}`, keys)).toBeNull();
    expect(bearerProblem(`bearer  ${KEY} `, keys)).toBeNull();
    expect(bearerProblem(undefined, keys)).toBe('missing bearer token (Authorization: Bearer <API key>)');
    expect(bearerProblem(basic(`ops:${KEY}`), keys)).toBe('missing bearer token (Authorization: Bearer <API key>)');
    expect(bearerProblem(`Bearer ${KEY}x`, keys)).toBe('invalid API key');
  });
});

describe('basicOrBearerProblem', () => {
  it('accepts a key as the HTTP Basic password whatever the user name, or as a bearer token', () => {
    expect(basicOrBearerProblem(basic(`ops:${KEY}`), keys)).toBeNull();
    expect(basicOrBearerProblem(basic(`:${KEY}`), keys)).toBeNull();
    expect(basicOrBearerProblem(`Bearer ${KEY}`, keys)).toBeNull();
  });

  it('refuses the key as the user name, a wrong or empty password, and credentials without a colon', () => {
    expect(basicOrBearerProblem(basic(`${KEY}:`), keys)).toBe('invalid API key');
    expect(basicOrBearerProblem(basic(`ops:${KEY.slice(1)}`), keys)).toBe('invalid API key');
    expect(basicOrBearerProblem(basic(KEY), keys)).toMatch(/^malformed Basic credentials/);
    expect(basicOrBearerProblem(`Bearer nope`, keys)).toBe('invalid API key');
    expect(basicOrBearerProblem(undefined, keys)).toBe('missing API key (HTTP Basic password, or Authorization: Bearer <API key>)');
    expect(basicOrBearerProblem('Digest x', keys)).toBe('missing API key (HTTP Basic password, or Authorization: Bearer <API key>)');
  });
});
