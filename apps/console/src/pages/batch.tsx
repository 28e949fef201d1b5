/** Batch scorings: the list with progress, a form that scores an uploaded archive, and a scoring's results. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, api, scoringPngPath, type HistogramBin, type ScoreRow, type ScoringStatus, type ScoringSummary } from '../api';
import { linkProps } from '../router';
import {
  ApiImage,
  Badge,
  ErrorBox,
  Field,
  Notice,
  ProgressBar,
  SubmitButton,
  formatNumber,
  formatTime,
  saveBlob,
  shortId,
  usePolling,
  useSubmission,
} from '../ui';
import { useModelChoice } from './score';

const SCORINGS_SHOWN = 25;
const POLL_MS = 2000;
const PAGE_SIZE = 20;
const UNFINISHED: ScoringStatus['state'][] = ['preparing', 'queued', 'running'];

export function BatchPage({ params }: { params: URLSearchParams }) {
  const id = params.get('id');
  return id ? <ScoringResults key={id} scoringId={id} /> : <ScoringList />;
}

function ScoringList() {
  const [scorings, setScorings] = useState<ScoringStatus[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = async () => {
    try {
      setScorings(await api.scorings(SCORINGS_SHOWN));
      setError(null);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) setError((e as Error).message);
    }
  };
  useEffect(() => void refresh(), []);
  const anyUnfinished = (scorings ?? []).some((s) => UNFINISHED.includes(s.state));
  usePolling(refresh, POLL_MS, anyUnfinished);

  return (
    <section>
      <div class="page-head">
        <h1>Batch scorings</h1>
        <span class="muted">{anyUnfinished ? 'updating every 2 s' : 'nothing running'}</span>
        <button onClick={() => void refresh()}>Refresh</button>
      </div>
      <ErrorBox message={error} />
      {scorings === null ? (
        <p class="muted">Loading…</p>
      ) : scorings.length === 0 ? (
        <p class="muted">No batch scorings yet.</p>
      ) : (
        <table class="table scorings-table">
          <thead>
            <tr>
              <th>Created</th>
              <th>Scoring</th>
              <th>Model</th>
              <th>State</th>
              <th>Progress</th>
              <th>Anomalous</th>
              <th>Failed</th>
            </tr>
          </thead>
          <tbody>
            {scorings.map((s) => (
              <tr key={s.scoringId} data-scoring-id={s.scoringId} data-state={s.state}>
                <td>{formatTime(s.createdAt)}</td>
                <td>
                  <a {...linkProps(`batch?id=${encodeURIComponent(s.scoringId)}`)}>{shortId(s.scoringId)}</a>
                </td>
                <td>
                  {s.category}/{s.version ?? 'current'}
                </td>
                <td>
                  <Badge value={s.state} />
                </td>
                <td class="progress-cell">
                  <ProgressBar done={s.imagesDone} total={s.images} label={s.images > 0 ? `${s.imagesDone} / ${s.images} images` : s.state} />
                  {s.error ? <div class="cell-error">{s.error}</div> : null}
                </td>
                <td class="num">{s.summary?.anomalous ?? '—'}</td>
                <td class="num">{s.summary?.failed ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ScoringForm onSubmitted={() => void refresh()} />
    </section>
  );
}

function ScoringForm({ onSubmitted }: { onSubmitted: () => void }) {
  const model = useModelChoice(null, null);
  const [archive, setArchive] = useState<File | null>(null);
  const [input, setInput] = useState('');
  const submission = useSubmission((field) => field === 'input' || field === 'archive');
  const errors = submission.fieldErrors;

  const submit = (event: Event) => {
    event.preventDefault();
    void submission.run(async () => {
      const answer = archive
        ? await api.submitScoringUpload(model.category, model.version, archive)
        : await api.submitScoring({ category: model.category, version: model.version, input: input.trim() });
      onSubmitted();
      return `Queued scoring ${answer.scoringId}`;
    });
  };

  return (
    <form class="card form" id="scoring-form" onSubmit={submit} noValidate>
      <h2>New batch scoring</h2>
      <ErrorBox message={model.error ?? submission.formError} />
      <div class="row">{model.pickers}</div>
      <Field label="Archive" error={errors.archive} hint=".zip, .tar or .tar.gz of images">
        <input name="archive" type="file" accept=".zip,.tar,.gz,.tgz" onChange={(e) => setArchive(e.currentTarget.files?.[0] ?? null)} />
      </Field>
      <Field label="…or an input location" error={errors.input} hint="s3://bucket/archive.tar.gz, s3://bucket/prefix/ or store:key">
        <input name="input" value={input} disabled={archive !== null} onInput={(e) => setInput(e.currentTarget.value)} />
      </Field>
      <SubmitButton busy={submission.busy} disabled={!model.category || (!archive && input.trim() === '')} label="Start scoring" />
      <Notice message={submission.notice} />
    </form>
  );
}

type SortKey = 'file' | 'score' | 'normalizedScore' | 'label';
type LabelFilter = 'all' | 'anomalous' | 'normal' | 'error';

function parseJsonl(text: string): ScoreRow[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ScoreRow);
}

function compareRows(key: SortKey, descending: boolean) {
  return (a: ScoreRow, b: ScoreRow) => {
    const x = a[key];
    const y = b[key];
    // Missing values (failed rows) go last whichever the direction.
    if (x === null && y === null) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  };
}

function ScoringResults({ scoringId }: { scoringId: string }) {
  const [status, setStatus] = useState<ScoringStatus | null>(null);
  const [summary, setSummary] = useState<ScoringSummary | null>(null);
  const [rows, setRows] = useState<ScoreRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({ key: 'score', descending: true });
  const [filter, setFilter] = useState<LabelFilter>('all');
  const [page, setPage] = useState(0);

  const refresh = async () => {
    try {
      const next = await api.scoring(scoringId);
      setStatus(next);
      if (next.state === 'completed' && rows === null) {
        const [s, text] = await Promise.all([api.scoringSummary(scoringId), api.scoringRowsJsonl(scoringId)]);
        setSummary(s);
        setRows(parseJsonl(text));
      }
      setError(null);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) setError((e as Error).message);
    }
  };
  useEffect(() => void refresh(), []);
  usePolling(refresh, POLL_MS, status !== null && UNFINISHED.includes(status.state));

  const shown = useMemo(() => {
    const kept = (rows ?? []).filter((r) => (filter === 'all' ? true : filter === 'error' ? r.error !== null : r.label === filter));
    return kept.sort(compareRows(sort.key, sort.descending));
  }, [rows, filter, sort]);
  const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
  const pageRows = shown.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);

  const sortBy = (key: SortKey) => {
    setSort(sort.key === key ? { key, descending: !sort.descending } : { key, descending: key !== 'file' });
    setPage(0);
  };
  const header = (key: SortKey, title: string) => (
    <th class={`sortable ${key === 'score' || key === 'normalizedScore' ? 'num' : ''}`} onClick={() => sortBy(key)} data-sort={key}>
      {title} {sort.key === key ? (sort.descending ? '▼' : '▲') : ''}
    </th>
  );
  const download = async (name: 'results.csv' | 'results.jsonl') => {
    try {
      saveBlob(await api.scoringFileBlob(scoringId, name), `${scoringId}-${name}`);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section>
      <div class="page-head">
        <h1>
          Batch scoring <code>{shortId(scoringId)}</code>
        </h1>
        <a {...linkProps('batch')}>← all scorings</a>
      </div>
      <ErrorBox message={error} />
      {status ? (
        <div class="card status-card">
          <div class="details-meta">
            <Badge value={status.state} />
            <span>
              model {status.category}/{status.version ?? 'current'}
            </span>
            <span>created {formatTime(status.createdAt)}</span>
            <span>
              {status.chunks.length} chunk{status.chunks.length === 1 ? '' : 's'}
            </span>
          </div>
          <ProgressBar done={status.imagesDone} total={status.images} label={`${status.imagesDone} / ${status.images} images`} />
          {status.error ? <ErrorBox message={status.error} /> : null}
        </div>
      ) : null}
      {summary ? (
        <div class="split">
          <div class="card summary-card">
            <h2>Summary</h2>
            <dl class="summary" id="scoring-summary">
              <dt>images</dt>
              <dd data-key="images">{summary.images}</dd>
              <dt>scored</dt>
              <dd data-key="scored">{summary.scored}</dd>
              <dt>anomalous</dt>
              <dd data-key="anomalous">{summary.anomalous}</dd>
              <dt>normal</dt>
              <dd data-key="normal">{summary.normal}</dd>
              <dt>failed</dt>
              <dd data-key="failed">{summary.failed}</dd>
              <dt>threshold</dt>
              <dd>{formatNumber(summary.threshold)}</dd>
            </dl>
            <div class="buttons">
              <button onClick={() => void download('results.csv')}>Download CSV</button>
              <button onClick={() => void download('results.jsonl')}>Download JSONL</button>
            </div>
          </div>
          <div class="card grow">
            <h2>Normalised scores</h2>
            <Histogram bins={summary.histogram} />
          </div>
        </div>
      ) : null}
      {rows ? (
        <div class="card">
          <div class="table-tools">
            <label>
              Label{' '}
              <select
                name="label-filter"
                value={filter}
                onChange={(e) => {
                  setFilter(e.currentTarget.value as LabelFilter);
                  setPage(0);
                }}
              >
                <option value="all">all</option>
                <option value="anomalous">anomalous</option>
                <option value="normal">normal</option>
                <option value="error">failed</option>
              </select>
            </label>
            <span class="muted">{shown.length} rows</span>
            <span class="pager">
              <button disabled={page === 0} onClick={() => setPage(page - 1)}>
                ‹ Prev
              </button>
              <span>
                page {page + 1} / {pages}
              </span>
              <button disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
                Next ›
              </button>
            </span>
          </div>
          <table class="table results-table">
            <thead>
              <tr>
                <th>Overlay</th>
                {header('file', 'File')}
                {header('score', 'Score')}
                {header('normalizedScore', 'Normalised')}
                {header('label', 'Label')}
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              {pageRows.map((row) => (
                <tr key={row.file} class="result-row" data-label={row.label ?? 'error'}>
                  <td>{row.heatmap ? <ApiImage path={scoringPngPath(scoringId, row.heatmap)} alt={`overlay of ${row.file}`} class="thumb" /> : null}</td>
                  <td class="file">{row.file}</td>
                  <td class="num">{formatNumber(row.score)}</td>
                  <td class="num">{formatNumber(row.normalizedScore)}</td>
                  <td>{row.label ? <Badge value={row.label} /> : <Badge value="failed" />}</td>
                  <td class="cell-error">{row.error ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

/** Bars of the summary's histogram of normalised scores, with the bin edges below; the threshold sits at 0.5. */
function Histogram({ bins }: { bins: HistogramBin[] }) {
  const width = 420;
  const height = 160;
  const bottom = 20;
  const margin = 12;
  const most = Math.max(1, ...bins.map((b) => b.count));
  const barWidth = width / Math.max(1, bins.length);
  const edges = [...bins.map((b) => b.from), bins.length > 0 ? bins[bins.length - 1].to : 1];
  return (
    <svg
      class="histogram"
      id="score-histogram"
      viewBox={`${-margin} 0 ${width + 2 * margin} ${height + bottom}`}
      role="img"
      aria-label="histogram of normalised scores"
    >
      {bins.map((bin, i) => {
        const h = (bin.count / most) * (height - 16);
        return (
          <g key={i}>
            <rect
              class={bin.from >= 0.5 ? 'bar bar-anomalous' : 'bar'}
              x={i * barWidth + 2}
              y={height - h}
              width={barWidth - 4}
              height={h}
              data-count={bin.count}
            />
            {bin.count > 0 ? (
              <text x={i * barWidth + barWidth / 2} y={height - h - 4} text-anchor="middle" class="bar-count">
                {bin.count}
              </text>
            ) : null}
          </g>
        );
      })}
      {edges.map((edge, i) => (
        <text key={i} x={i * barWidth} y={height + 14} text-anchor="middle" class="axis">
          {edge.toFixed(1)}
        </text>
      ))}
      <line x1={width / 2} x2={width / 2} y1={0} y2={height} class="threshold-line" />
    </svg>
  );
}
