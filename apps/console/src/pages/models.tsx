/** Models: categories → versions with metrics, thresholds and training summary; promote, delete, compare two. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, type ModelCategoryDetail, type ModelCategorySummary, type ModelVersionSummary } from '../api';
import { linkProps, navigate } from '../router';
import { Badge, ErrorBox, formatNumber, formatSeconds, formatTime } from '../ui';

export function ModelsPage({ params }: { params: URLSearchParams }) {
  const category = params.get('category');
  const [categories, setCategories] = useState<ModelCategorySummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = () =>
    api.models().then(
      (list) => {
        setCategories(list);
        setError(null);
      },
      (e: Error) => !(e instanceof ApiError && e.status === 401) && setError(e.message),
    );
  useEffect(() => void load(), []);

  return (
    <section>
      <div class="page-head">
        <h1>Models</h1>
      </div>
      <ErrorBox message={error} />
      <div class="split">
        <div class="card category-list">
          <h2>Categories</h2>
          {categories === null ? (
            <p class="muted">Loading…</p>
          ) : categories.length === 0 ? (
            <p class="muted">No models yet.</p>
          ) : (
            <table class="table compact">
              <thead>
                <tr>
                  <th>Category</th>
                  <th>Current</th>
                  <th class="num">Versions</th>
                </tr>
              </thead>
              <tbody>
                {categories.map((c) => (
                  <tr key={c.category} class={c.category === category ? 'selected' : ''} data-category={c.category}>
                    <td>
                      <a {...linkProps(`models?category=${encodeURIComponent(c.category)}`)}>{c.category}</a>
                    </td>
                    <td>
                      <code>{c.current ?? '—'}</code>
                    </td>
                    <td class="num">{c.versions}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div class="grow">
          {category ? <CategoryVersions key={category} category={category} onChanged={() => void load()} /> : <p class="muted">Pick a category.</p>}
        </div>
      </div>
    </section>
  );
}

function CategoryVersions({ category, onChanged }: { category: string; onChanged: () => void }) {
  const [detail, setDetail] = useState<ModelCategoryDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [picked, setPicked] = useState<string[]>([]);

  const load = () =>
    api.model(category).then(
      (d) => {
        setDetail(d);
        setError(null);
      },
      (e: Error) => !(e instanceof ApiError && e.status === 401) && setError(e.message),
    );
  useEffect(() => void load(), [category]);

  const act = async (action: () => Promise<unknown>) => {
    try {
      await action();
      setError(null);
      await load();
      onChanged();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const promote = (version: string) => void act(() => api.promote(category, version));
  const remove = (version: string) => {
    if (!confirm(`Delete ${category}/${version}? This cannot be undone.`)) return;
    void act(async () => {
      await api.deleteVersion(category, version);
      setPicked(picked.filter((v) => v !== version));
    });
  };
  const togglePick = (version: string) =>
    // Two at most: picking a third drops the oldest pick.
    setPicked(picked.includes(version) ? picked.filter((v) => v !== version) : [...picked, version].slice(-2));

  const versions = detail ? [...detail.versions].sort((a, b) => b.createdAt.localeCompare(a.createdAt)) : [];
  const compared = picked.map((v) => versions.find((s) => s.version === v)).filter((v): v is ModelVersionSummary => v !== undefined);

  return (
    <div class="card">
      <h2>
        {category} <span class="muted">current: {detail?.current ?? '—'}</span>
      </h2>
      <ErrorBox message={error} />
      {detail === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <table class="table versions-table">
          <thead>
            <tr>
              <th title="pick two to compare">Compare</th>
              <th>Version</th>
              <th>Created</th>
              <th>Model</th>
              <th>Training</th>
              <th>Thresholds</th>
              <th>Metrics</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.version} data-version={v.version} class={v.current ? 'current' : ''}>
                <td>
                  <input type="checkbox" aria-label={`compare ${v.version}`} checked={picked.includes(v.version)} onChange={() => togglePick(v.version)} />
                </td>
                <td>
                  <code>{v.version}</code> {v.current ? <Badge value="current" /> : null}
                </td>
                <td class="small">{formatTime(v.createdAt)}</td>
                <td class="small">
                  {v.backbone}, d={v.d} ({v.embedding}), {v.input.size}px{v.input.crop ? ` crop ${v.input.crop}` : ''}
                </td>
                <td class="small">
                  {v.training.imageCount} images, {v.training.heldOutCount} held out
                  {v.training.skippedCount ? `, ${v.training.skippedCount} skipped` : ''}, {formatSeconds(v.training.seconds)}
                  {v.baseVersion ? <div>extends {v.baseVersion}</div> : null}
                  {v.runId ? <div class="muted">run {v.runId.slice(0, 8)}</div> : null}
                </td>
                <td class="small">
                  image {formatNumber(v.thresholds.image)}, pixel {formatNumber(v.thresholds.pixel)}
                  <div class="muted">
                    {v.thresholds.rule} on {v.thresholds.sampleCount}
                    {v.thresholds.falsePositives ? `, FP ${v.thresholds.falsePositives.count}/${v.thresholds.falsePositives.of}` : ''}
                  </div>
                </td>
                <td class="small">
                  <Metrics metrics={v.metrics} />
                </td>
                <td class="actions">
                  {!v.current ? (
                    <>
                      <button class="small-button" onClick={() => promote(v.version)}>
                        Promote
                      </button>
                      <button class="danger small-button" onClick={() => remove(v.version)}>
                        Delete
                      </button>
                    </>
                  ) : null}
                  <button class="link" onClick={() => navigate(`score?category=${encodeURIComponent(category)}&version=${encodeURIComponent(v.version)}`)}>
                    Score
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {compared.length === 2 ? <Comparison a={compared[0]} b={compared[1]} /> : <p class="muted small">Tick two versions to compare them side by side.</p>}
    </div>
  );
}

function Metrics({ metrics }: { metrics?: Record<string, number | null> }) {
  if (!metrics || Object.keys(metrics).length === 0) return <span class="muted">none (no validation set)</span>;
  return (
    <span class="metrics">
      {Object.entries(metrics).map(([k, v]) => (
        <span key={k}>
          {k} {formatNumber(v)}
        </span>
      ))}
    </span>
  );
}

/** Rows of the comparison: the same quantity of both versions, and their difference where it is a number. */
function comparisonRows(a: ModelVersionSummary, b: ModelVersionSummary): [string, string | number | null, string | number | null][] {
  const metricNames = [...new Set([...Object.keys(a.metrics ?? {}), ...Object.keys(b.metrics ?? {})])];
  return [
    ['created', formatTime(a.createdAt), formatTime(b.createdAt)],
    ['backbone', `${a.backbone} d=${a.d}`, `${b.backbone} d=${b.d}`],
    ['input size', a.input.size, b.input.size],
    ['training images', a.training.imageCount, b.training.imageCount],
    ['held out', a.training.heldOutCount, b.training.heldOutCount],
    ['training seconds', a.training.seconds, b.training.seconds],
    ['image threshold', a.thresholds.image, b.thresholds.image],
    ['pixel threshold', a.thresholds.pixel, b.thresholds.pixel],
    ['threshold rule', a.thresholds.rule, b.thresholds.rule],
    ['false positives', a.thresholds.falsePositives?.rate ?? null, b.thresholds.falsePositives?.rate ?? null],
    ...metricNames.map((m): [string, number | null, number | null] => [m, a.metrics?.[m] ?? null, b.metrics?.[m] ?? null]),
  ];
}

function Comparison({ a, b }: { a: ModelVersionSummary; b: ModelVersionSummary }) {
  return (
    <div class="comparison">
      <h3>Comparison</h3>
      <table class="table compact" id="comparison">
        <thead>
          <tr>
            <th />
            <th>
              <code>{a.version}</code>
            </th>
            <th>
              <code>{b.version}</code>
            </th>
            <th class="num">difference</th>
          </tr>
        </thead>
        <tbody>
          {comparisonRows(a, b).map(([name, x, y]) => (
            <tr key={name}>
              <td>{name}</td>
              <td class="num">{typeof x === 'number' ? formatNumber(x, 4) : (x ?? '—')}</td>
              <td class="num">{typeof y === 'number' ? formatNumber(y, 4) : (y ?? '—')}</td>
              <td class="num">{typeof x === 'number' && typeof y === 'number' && x !== y ? `${y - x > 0 ? '+' : ''}${formatNumber(y - x, 4)}` : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
