/** Score: drop images, score them with a category's model, and see each original beside its heatmap overlay and mask. */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, type ModelCategorySummary, type OnlineScoreResult } from '../api';
import { ApiImage, Badge, ErrorBox, Field, FileImage, formatNumber } from '../ui';

/** The model pickers both scoring pages use: a category with models, and one of its versions (default: current). */
export function useModelChoice(initialCategory: string | null, initialVersion: string | null) {
  const [categories, setCategories] = useState<ModelCategorySummary[]>([]);
  const [category, setCategory] = useState(initialCategory ?? '');
  const [versions, setVersions] = useState<string[]>([]);
  const [version, setVersion] = useState(initialVersion ?? '');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.models().then(
      (list) => {
        setCategories(list);
        if (!category && list.length > 0) setCategory(list[0].category);
      },
      (e: Error) => !(e instanceof ApiError && e.status === 401) && setError(e.message),
    );
  }, []);
  useEffect(() => {
    if (!category) return;
    api.model(category).then(
      (d) =>
        setVersions(
          d.versions
            .map((v) => v.version)
            .sort()
            .reverse(),
        ),
      () => setVersions([]),
    );
  }, [category]);
  const pickers = (
    <>
      <Field label="Category">
        <select
          name="category"
          value={category}
          onChange={(e) => {
            setCategory(e.currentTarget.value);
            setVersion('');
          }}
        >
          {categories.map((c) => (
            <option key={c.category} value={c.category}>
              {c.category}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Version">
        <select name="version" value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
          <option value="">current</option>
          {versions.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      </Field>
    </>
  );
  return { category, version: version || undefined, pickers, error, noModels: categories.length === 0 };
}

export function ScorePage() {
  const params = new URLSearchParams(location.search);
  const model = useModelChoice(params.get('category'), params.get('version'));
  const [files, setFiles] = useState<File[]>([]);
  const [results, setResults] = useState<{ files: File[]; version: string; rows: OnlineScoreResult[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);

  const score = async (event: Event) => {
    event.preventDefault();
    if (files.length === 0) return;
    setBusy(true);
    try {
      const answer = await api.score(model.category, model.version, files);
      setResults({ files, version: answer.version, rows: answer.results });
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const dropped = [...(event.dataTransfer?.files ?? [])].filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|bmp|tiff?|webp)$/i.test(f.name));
    if (dropped.length > 0) setFiles(dropped);
  };

  return (
    <section>
      <div class="page-head">
        <h1>Score</h1>
      </div>
      <ErrorBox message={model.error ?? error} />
      <form class="card form score-form" onSubmit={score}>
        <div class="row">{model.pickers}</div>
        <label
          class={`dropzone ${dragging ? 'dragging' : ''}`}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <input name="images" type="file" accept="image/*" multiple onChange={(e) => setFiles([...(e.currentTarget.files ?? [])])} />
          <span>
            {files.length > 0
              ? `${files.length} image${files.length > 1 ? 's' : ''}: ${files.map((f) => f.name).join(', ')}`
              : 'Drop images here, or click to choose'}
          </span>
        </label>
        <button type="submit" class="primary" disabled={busy || files.length === 0 || !model.category}>
          {busy ? 'Scoring…' : 'Score'}
        </button>
      </form>
      {results ? (
        <div class="results">
          <p class="muted">
            {model.category}/{results.version}: {results.rows.length} result{results.rows.length === 1 ? '' : 's'}
          </p>
          {results.rows.map((row, i) => (
            <div class="card result" key={`${i}-${row.file}`} data-label={row.label ?? 'error'}>
              <div class="result-head">
                <strong>{row.file}</strong>
                {row.label ? <Badge value={row.label} /> : <Badge value="failed" />}
                <span>
                  score <b class="score">{formatNumber(row.score, 3)}</b>
                </span>
                <span>
                  normalised <b class="normalized-score">{formatNumber(row.normalizedScore, 3)}</b>
                </span>
                <span class="muted">threshold {formatNumber(row.threshold, 3)}</span>
              </div>
              {row.error ? <ErrorBox message={row.error} /> : null}
              <div class="image-row">
                <figure>
                  {results.files[i] ? <FileImage file={results.files[i]} alt={`original ${row.file}`} class="shot" /> : null}
                  <figcaption>original</figcaption>
                </figure>
                <figure>
                  <ApiImage path={row.heatmap} alt={`heatmap of ${row.file}`} class="shot" />
                  <figcaption>heatmap overlay</figcaption>
                </figure>
                <figure>
                  <ApiImage path={row.mask} alt={`mask of ${row.file}`} class="shot" />
                  <figcaption>mask</figcaption>
                </figure>
              </div>
            </div>
          ))}
        </div>
      ) : null}
    </section>
  );
}
