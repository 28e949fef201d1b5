import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { z } from 'zod';
import { apiError, describeIssues } from '@padim-fleet/contracts';
import { UsageError } from '../args';

/** Where a fleet's API is and the key to it: flags over the environment. */
export interface RemoteSettings {
  apiUrl: string;
  apiKey: string;
}

/** The connection options every `padim remote` subcommand takes. */
export const CONNECTION_OPTIONS = {
  'api-url': { type: 'string', value: 'url', description: "the fleet's API, e.g. http://fleet:3000 (default PADIM_API_URL)" },
  'api-key': { type: 'string', value: 'key', description: 'an API key of the fleet (default PADIM_API_KEY)' },
} as const;

export function remoteSettings(values: { 'api-url'?: string; 'api-key'?: string }, env: NodeJS.ProcessEnv = process.env): RemoteSettings {
  const apiUrl = values['api-url'] ?? env.PADIM_API_URL;
  const apiKey = values['api-key'] ?? env.PADIM_API_KEY;
  if (!apiUrl) throw new UsageError("no API URL: set PADIM_API_URL (or --api-url) to the fleet's API, e.g. http://fleet:3000");
  if (!apiKey) throw new UsageError('no API key: set PADIM_API_KEY (or --api-key) to one of the fleet’s API_KEYS');
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new UsageError(`PADIM_API_URL / --api-url: not a URL: "${apiUrl}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`PADIM_API_URL / --api-url: must be http:// or https://, got "${apiUrl}"`);
  return { apiUrl: apiUrl.replace(/\/+$/, ''), apiKey };
}

/** An answer that is not a success, or no answer: carries the API's status and message. */
export class RemoteApiError extends Error {
  override name = 'RemoteApiError';
  constructor(
    message: string,
    /** The HTTP status, or null when the API did not answer. */
    readonly status: number | null,
  ) {
    super(message);
  }
}

type Body = FormData | Record<string, unknown> | undefined;

/**
 * A client of the fleet's HTTP API (Node's global fetch). Every JSON answer is parsed with its contract
 * schema: an answer that does not match is an error naming the route, never a silently wrong value.
 */
export class RemoteApi {
  constructor(readonly settings: RemoteSettings) {}

  /** `method route` answered with JSON of `schema`. */
  async json<S extends z.ZodType>(method: string, route: string, schema: S, body?: Body): Promise<z.infer<S>> {
    const res = await this.send(method, route, body);
    const text = await res.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new RemoteApiError(`${method} ${route}: the answer is not JSON (${res.status}, ${JSON.stringify(text.slice(0, 120))})`, res.status);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issues = describeIssues(parsed.error, 'answer').slice(0, 5);
      throw new RemoteApiError(
        `${method} ${route}: the answer does not match its contract (${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}); is the API another version?`,
        res.status,
      );
    }
    return parsed.data;
  }

  /** GET `route` into `file`, written beside it and renamed into place (a failed download leaves no file). Returns the bytes written. */
  async download(route: string, file: string): Promise<number> {
    const res = await this.send('GET', route);
    const temporary = path.join(path.dirname(file), `.${path.basename(file)}.download-${process.pid}`);
    try {
      await pipeline(Readable.fromWeb(res.body! as WebReadableStream), createWriteStream(temporary, { flags: 'wx' }));
      await fs.rename(temporary, file);
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw error;
    }
    return (await fs.stat(file)).size;
  }

  /** Sends a request; a non-2xx answer is a RemoteApiError with the API's message. */
  private async send(method: string, route: string, body?: Body): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.settings.apiKey}` };
    let payload: FormData | string | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(`${this.settings.apiUrl}${route}`, { method, headers, body: payload });
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new RemoteApiError(`${method} ${route}: no answer from ${this.settings.apiUrl} (${cause}); is PADIM_API_URL right?`, null);
    }
    if (res.ok) return res;
    throw new RemoteApiError(`${method} ${route}: ${res.status} ${errorMessage(res.status, await res.text())}`, res.status);
  }
}

/** The API's message from an error body (its error contract), else the body's start. */
function errorMessage(status: number, text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text.trim().slice(0, 200) || `HTTP ${status}`;
  }
  const parsed = apiError.safeParse(value);
  if (parsed.success) return parsed.data.message;
  return text.slice(0, 200);
}
