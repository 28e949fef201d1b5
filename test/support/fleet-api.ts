import type { TrainingStatus } from '@padim-fleet/contracts';
import { pollUntil } from './fleet-processes';

/** A small client for the fleet's HTTP API, as an ops script would use it. */
export class FleetApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  async request(method: string, path: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = {};
    if (opts.auth !== false) headers.authorization = `Bearer ${this.apiKey}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON (Swagger UI's HTML)
    }
    return { status: res.status, body: parsed };
  }

  async train(body: Record<string, unknown>): Promise<string> {
    const res = await this.request('POST', '/v1/trainings', body);
    if (res.status !== 202) throw new Error(`POST /v1/trainings answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body.runId as string;
  }

  async status(runId: string): Promise<TrainingStatus> {
    const res = await this.request('GET', `/v1/trainings/${runId}`);
    if (res.status !== 200) throw new Error(`GET /v1/trainings/${runId} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as TrainingStatus;
  }

  waitForRun(runId: string, timeoutMs = 300_000): Promise<TrainingStatus> {
    return pollUntil(
      () => this.status(runId),
      (s) => s.state === 'completed' || s.state === 'failed' || s.state === 'cancelled',
      timeoutMs,
      `run ${runId} to finish`,
    );
  }
}
