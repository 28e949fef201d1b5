import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { modelCategoryList } from '@padim-fleet/contracts';
import { UsageError } from '../args';
import { RemoteApi, RemoteApiError, remoteSettings } from './remote-api';

/** A tiny API: each route answers a fixed status and body, and records the requests' authorization and bodies. */
const answers: Record<string, { status: number; body: string; type?: string }> = {
  'GET /v1/models': { status: 200, body: JSON.stringify([{ category: 'screw', current: 'v1', versions: 2 }]) },
  'GET /v1/models/screw-drift': { status: 200, body: JSON.stringify([{ category: 'screw', current: 'v1', versions: 'two' }]) },
  'GET /v1/models/nope': { status: 404, body: JSON.stringify({ statusCode: 404, message: 'no models for category nope' }) },
  'POST /v1/trainings': {
    status: 400,
    body: JSON.stringify({
      statusCode: 400,
      error: 'Bad Request',
      message: 'body.d: must be at most 448',
      issues: [{ path: 'body.d', message: 'must be at most 448' }],
    }),
  },
  'GET /v1/html': { status: 502, body: '<html>bad gateway</html>', type: 'text/html' },
  'GET /v1/not-json': { status: 200, body: 'hello', type: 'text/plain' },
  'GET /v1/archive': { status: 200, body: 'tar bytes', type: 'application/x-tar' },
};
const seen: { route: string; authorization?: string; body: string }[] = [];
let server: http.Server;
let url: string;
let dir: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const route = `${req.method} ${req.url}`;
      seen.push({ route, authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') });
      const answer = answers[route] ?? { status: 404, body: JSON.stringify({ statusCode: 404, message: `Cannot ${route}` }) };
      res.writeHead(answer.status, { 'content-type': answer.type ?? 'application/json' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'remote-api-'));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await fs.rm(dir, { recursive: true, force: true });
});

const api = () => new RemoteApi({ apiUrl: url, apiKey: 'k-123' });

async function failure(work: Promise<unknown>): Promise<RemoteApiError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RemoteApiError);
  return error as RemoteApiError;
}

describe('remoteSettings', () => {
  it('takes the flags over the environment and drops a trailing slash', () => {
    expect(remoteSettings({}, { PADIM_API_URL: 'http://fleet:3000/', PADIM_API_KEY: 'env-key' })).toEqual({ apiUrl: 'http://fleet:3000', apiKey: 'env-key' });
    expect(remoteSettings({ 'api-url': 'https://other', 'api-key': 'flag-key' }, { PADIM_API_URL: 'http://fleet:3000', PADIM_API_KEY: 'env-key' })).toEqual({
      apiUrl: 'https://other',
      apiKey: 'flag-key',
    });
  });

  it('names the missing or bad setting', () => {
    expect(() => remoteSettings({}, { PADIM_API_KEY: 'k' })).toThrow(
      new UsageError("no API URL: set PADIM_API_URL (or --api-url) to the fleet's API, e.g. http://fleet:3000"),
    );
    expect(() => remoteSettings({}, { PADIM_API_URL: 'http://fleet' })).toThrow(/no API key: set PADIM_API_KEY \(or --api-key\)/);
    expect(() => remoteSettings({ 'api-url': 'fleet:3000', 'api-key': 'k' }, {})).toThrow(/PADIM_API_URL \/ --api-url: must be http/);
    expect(() => remoteSettings({ 'api-url': 'not a url', 'api-key': 'k' }, {})).toThrow(/not a URL/);
  });
});

describe('RemoteApi', () => {
  it('sends the key as a bearer token and parses the answer with its contract', async () => {
    expect(await api().json('GET', '/v1/models', modelCategoryList)).toEqual([{ category: 'screw', current: 'v1', versions: 2 }]);
    expect(seen.at(-1)).toMatchObject({ route: 'GET /v1/models', authorization: 'Bearer k-123' });
  });

  it('refuses an answer that does not match the contract, naming the route and the field', async () => {
    const error = await failure(api().json('GET', '/v1/models/screw-drift', modelCategoryList));
    expect(error.message).toMatch(/^GET \/v1\/models\/screw-drift: the answer does not match its contract \(answer\.0\.versions: .*number/);
  });

  it("reports an HTTP error with the API's message and status", async () => {
    const error = await failure(api().json('GET', '/v1/models/nope', modelCategoryList));
    expect([error.status, error.message]).toEqual([404, 'GET /v1/models/nope: 404 no models for category nope']);
    const bad = await failure(api().json('POST', '/v1/trainings', modelCategoryList, { category: 'screw', d: 999 }));
    expect(bad.message).toBe('POST /v1/trainings: 400 body.d: must be at most 448');
    expect(seen.at(-1)).toMatchObject({ route: 'POST /v1/trainings', body: '{"category":"screw","d":999}' });
  });

  it('reports an error body that is not the API’s (a proxy’s page) by its text, and a success that is not JSON', async () => {
    expect((await failure(api().json('GET', '/v1/html', modelCategoryList))).message).toBe('GET /v1/html: 502 <html>bad gateway</html>');
    expect((await failure(api().json('GET', '/v1/not-json', modelCategoryList))).message).toMatch(
      /^GET \/v1\/not-json: the answer is not JSON \(200, "hello"\)/,
    );
  });

  it('says when nothing answers', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const closed = new RemoteApi({ apiUrl: `http://127.0.0.1:${port}`, apiKey: 'k' });
    const error = await failure(closed.json('GET', '/v1/models', modelCategoryList));
    expect(error.status).toBeNull();
    expect(error.message).toMatch(
      new RegExp(`^GET /v1/models: no answer from http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\); is PADIM_API_URL right\\?`),
    );
  });

  it('downloads into a file, and leaves no file when the route fails', async () => {
    const file = path.join(dir, 'a.tar');
    expect(await api().download('/v1/archive', file)).toBe(9);
    expect(await fs.readFile(file, 'utf8')).toBe('tar bytes');
    const missing = path.join(dir, 'b.tar');
    expect((await failure(api().download('/v1/nothing', missing))).status).toBe(404);
    expect(await fs.readdir(dir)).toEqual(['a.tar']);
  });
});
