/**
 * The console's only way to the fleet: the public /v1 API, same origin, with the API key the user
 * entered (kept for this browser session only).
 */
import type {
  ModelCategoryDetail,
  ModelCategorySummary,
  OnlineScoreResponse,
  ScoringStatus,
  ScoringSummary,
  TrainingRequestInput,
  TrainingStatus,
} from '@padim-fleet/contracts';

export type { HistogramBin, OnlineScoreResult, ScoreRow, ScoringStatus, ScoringSummary, TrainingStatus, ShardStatus, RunState } from '@padim-fleet/contracts';
export type { ModelCategoryDetail, ModelCategorySummary, ModelVersionSummary } from '@padim-fleet/contracts';

/** GET /v1/trainings lists runs without their shards (GET /v1/trainings/:id has them). */
export type TrainingRunSummary = Pick<TrainingStatus, 'runId' | 'category' | 'version' | 'state' | 'createdAt' | 'error'>;
export type TrainingRequestBody = Partial<TrainingRequestInput> & Pick<TrainingRequestInput, 'category' | 'dataset'>;

const KEY_STORAGE = 'padim-console.api-key';

export function storedApiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeApiKey(key: string): void {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function forgetApiKey(): void {
  sessionStorage.removeItem(KEY_STORAGE);
}

/** Listeners told when the API refuses the key (401): the console asks for it again. */
const keyRefusedListeners = new Set<(message: string) => void>();

export function onKeyRefused(listener: (message: string) => void): () => void {
  keyRefusedListeners.add(listener);
  return () => keyRefusedListeners.delete(listener);
}

/** A field the API named in a 400: `path` as the API spells it (`body.dataset`, `body.runs.2.category`). */
export interface ApiIssue {
  path: string;
  message: string;
}

/** An answer other than 2xx, with the API's `message` and, for a 400, the fields it names. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: ApiIssue[] = [],
  ) {
    super(message);
  }

  /**
   * Each field the API named, by its path without a leading 'body.' ('dataset', 'runs.2.category'): from
   * `issues`, or else from a message that starts with a path ('dataset: no images under …').
   */
  fieldMessages(): Record<string, string> {
    const named = this.issues.length > 0 ? this.issues : messagePath(this.message);
    const fields: Record<string, string> = {};
    for (const issue of named) {
      const field = issue.path.replace(/^body\./, '');
      fields[field] = fields[field] ? `${fields[field]}; ${issue.message}` : issue.message;
    }
    return fields;
  }
}

function messagePath(message: string): ApiIssue[] {
  const match = /^([A-Za-z][\w.]*): (.+)$/s.exec(message);
  return match ? [{ path: match[1], message: match[2] }] : [];
}

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${storedApiKey() ?? ''}` };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload });
  if (res.ok) return res;
  const text = await res.text();
  let message = `${method} ${path}: HTTP ${res.status}`;
  let issues: ApiIssue[] = [];
  try {
    const parsed = JSON.parse(text) as { message?: unknown; issues?: ApiIssue[] };
    if (typeof parsed.message === 'string') message = parsed.message;
    else if (Array.isArray(parsed.message)) message = parsed.message.join('; ');
    if (Array.isArray(parsed.issues)) issues = parsed.issues;
  } catch {
    if (text) message = `${message}: ${text.slice(0, 200)}`;
  }
  if (res.status === 401) for (const listener of keyRefusedListeners) listener(message);
  throw new ApiError(res.status, message, issues);
}

async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

const enc = encodeURIComponent;

export const api = {
  /** Checks a key before it is kept: any authenticated route will do. */
  checkKey: (key: string) =>
    fetch('/v1/models', { headers: { authorization: `Bearer ${key}` } }).then(async (res) => {
      if (res.status === 401) throw new ApiError(401, ((await res.json()) as { message: string }).message);
    }),

  trainings: (limit: number) => json<TrainingRunSummary[]>('GET', `/v1/trainings?limit=${limit}`),
  training: (runId: string) => json<TrainingStatus>('GET', `/v1/trainings/${enc(runId)}`),
  train: (body: TrainingRequestBody) => json<{ runId: string; version: string; warnings?: string[] }>('POST', '/v1/trainings', body),
  trainBatch: (runs: TrainingRequestBody[]) => json<{ runs: { runId: string; category: string; version: string }[] }>('POST', '/v1/trainings/batch', { runs }),
  cancelTraining: (runId: string) => json<TrainingStatus>('DELETE', `/v1/trainings/${enc(runId)}`),

  models: () => json<ModelCategorySummary[]>('GET', '/v1/models'),
  model: (category: string) => json<ModelCategoryDetail>('GET', `/v1/models/${enc(category)}`),
  promote: (category: string, version: string) =>
    json<{ category: string; current: string }>('POST', `/v1/models/${enc(category)}/versions/${enc(version)}/promote`),
  deleteVersion: (category: string, version: string) => json<void>('DELETE', `/v1/models/${enc(category)}/versions/${enc(version)}`),

  score: (category: string, version: string | undefined, files: File[]) => {
    const form = new FormData();
    for (const file of files) form.append('images', file, file.name);
    const query = version ? `?version=${enc(version)}` : '';
    return json<OnlineScoreResponse>('POST', `/v1/models/${enc(category)}/score${query}`, form);
  },

  scorings: (limit: number) => json<ScoringStatus[]>('GET', `/v1/scorings?limit=${limit}`),
  scoring: (id: string) => json<ScoringStatus>('GET', `/v1/scorings/${enc(id)}`),
  submitScoringUpload: (category: string, version: string | undefined, archive: File) => {
    const form = new FormData();
    // The fields first: the API checks them, and the model, before it stores the archive.
    form.append('category', category);
    if (version) form.append('version', version);
    form.append('archive', archive, archive.name);
    return json<{ scoringId: string }>('POST', '/v1/scorings/upload', form);
  },
  submitScoring: (body: { category: string; version?: string; input: string; chunkSize?: number }) => json<{ scoringId: string }>('POST', '/v1/scorings', body),
  scoringSummary: (id: string) => json<ScoringSummary>('GET', `/v1/scorings/${enc(id)}/files/summary.json`),
  scoringRowsJsonl: async (id: string) => (await send('GET', `/v1/scorings/${enc(id)}/files/results.jsonl`)).text(),
  scoringFileBlob: async (id: string, name: 'results.csv' | 'results.jsonl') => (await send('GET', `/v1/scorings/${enc(id)}/files/${name}`)).blob(),

  /** A PNG (or any file) of the API as a Blob: images need the key, so they cannot be plain <img src> links. */
  blob: async (path: string) => (await send('GET', path)).blob(),
};

/** The link of a batch scoring's PNG from its row key ('heatmaps/a__b.png'). */
export function scoringPngPath(scoringId: string, key: string): string {
  const [kind, name] = key.split('/');
  return `/v1/scorings/${enc(scoringId)}/${kind}/${enc(name)}`;
}
