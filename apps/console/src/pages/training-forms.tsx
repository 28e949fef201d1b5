/** The forms of the Runs page: one training run, and many categories at once. The API's 400s show at their fields. */
import { useState } from 'preact/hooks';
import type { BackboneName, TrainingRequestInput } from '@padim-fleet/contracts';
import { api, type TrainingRequestBody } from '../api';
import { ErrorBox, Field, Notice, SubmitButton, useSubmission } from '../ui';

/** Every backbone the API knows (the `satisfies` fails to compile when one is added there and not here). */
const BACKBONES = Object.keys({ resnet18: true, resnet50: true } satisfies Record<BackboneName, true>) as BackboneName[];
const EMBEDDINGS = Object.keys({ random: true, 'semi-orthogonal': true } satisfies Record<NonNullable<TrainingRequestInput['embedding']>, true>);

/** The settings every run of a form shares, as typed (numbers still text: empty means the API's default). */
interface RunSettings {
  backbone: string;
  embedding: string;
  size: string;
  shards: string;
  holdout: string;
  validation: string;
  baseVersion: string;
  promote: boolean;
}

const DEFAULT_SETTINGS: RunSettings = {
  backbone: 'resnet18',
  embedding: 'random',
  size: '',
  shards: '',
  holdout: '',
  validation: '',
  baseVersion: '',
  promote: true,
};

/** A number field as typed: a number when it reads as one, the text otherwise (the API then says what is wrong). */
function numberField(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  return Number(trimmed);
}

function requestOf(category: string, dataset: string, s: RunSettings): TrainingRequestBody {
  const body: TrainingRequestBody = {
    category: category.trim(),
    dataset: dataset.trim(),
    backbone: s.backbone as BackboneName,
    embedding: s.embedding as TrainingRequestInput['embedding'],
    promote: s.promote,
  };
  const size = numberField(s.size);
  const shards = numberField(s.shards);
  const holdout = numberField(s.holdout);
  if (size !== undefined) body.size = size;
  if (shards !== undefined) body.shards = shards;
  if (holdout !== undefined) body.holdout = holdout;
  if (s.validation.trim()) body.validation = s.validation.trim();
  if (s.baseVersion.trim()) body.baseVersion = s.baseVersion.trim();
  return body;
}

/** The fields of RunSettings; `errors` by field name. */
function SettingsFields({
  value,
  onChange,
  errors,
  withVersions,
}: {
  value: RunSettings;
  onChange: (v: RunSettings) => void;
  errors: Record<string, string>;
  withVersions: boolean;
}) {
  const set = (patch: Partial<RunSettings>) => onChange({ ...value, ...patch });
  return (
    <>
      <Field label="Backbone" error={errors.backbone}>
        <select name="backbone" value={value.backbone} onChange={(e) => set({ backbone: e.currentTarget.value })}>
          {BACKBONES.map((b) => (
            <option key={b} value={b}>
              {b}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Embedding" error={errors.embedding}>
        <select name="embedding" value={value.embedding} onChange={(e) => set({ embedding: e.currentTarget.value })}>
          {EMBEDDINGS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Image size" error={errors.size} hint="default 256">
        <input name="size" inputMode="numeric" value={value.size} onInput={(e) => set({ size: e.currentTarget.value })} placeholder="256" />
      </Field>
      <Field label="Shards" error={errors.shards} hint="default: one per extract worker">
        <input name="shards" inputMode="numeric" value={value.shards} onInput={(e) => set({ shards: e.currentTarget.value })} placeholder="auto" />
      </Field>
      <Field label="Hold-out" error={errors.holdout} hint="fraction, default 0.1">
        <input name="holdout" inputMode="decimal" value={value.holdout} onInput={(e) => set({ holdout: e.currentTarget.value })} placeholder="0.1" />
      </Field>
      {withVersions ? (
        <>
          <Field label="Validation set" error={errors.validation} hint="optional server folder in MVTec's layout">
            <input name="validation" value={value.validation} onInput={(e) => set({ validation: e.currentTarget.value })} />
          </Field>
          <Field label="Base version" error={errors.baseVersion} hint="optional: extend this version">
            <input name="baseVersion" value={value.baseVersion} onInput={(e) => set({ baseVersion: e.currentTarget.value })} />
          </Field>
        </>
      ) : null}
      <label class="checkbox">
        <input name="promote" type="checkbox" checked={value.promote} onChange={(e) => set({ promote: e.currentTarget.checked })} />
        Make the new version current
      </label>
    </>
  );
}

/** Known fields of a run: an API issue on another path is shown above the form instead. */
const RUN_FIELDS = new Set(['category', 'dataset', 'backbone', 'embedding', 'size', 'shards', 'holdout', 'validation', 'baseVersion', 'promote']);

export function TrainingForm({ onSubmitted }: { onSubmitted: () => void }) {
  const [category, setCategory] = useState('');
  const [dataset, setDataset] = useState('');
  const [settings, setSettings] = useState(DEFAULT_SETTINGS);
  const submission = useSubmission((field) => RUN_FIELDS.has(field));
  const errors = submission.fieldErrors;

  const submit = (event: Event) => {
    event.preventDefault();
    void submission.run(async () => {
      const answer = await api.train(requestOf(category, dataset, settings));
      onSubmitted();
      return `Queued run ${answer.runId} (version ${answer.version})${answer.warnings?.length ? `; ${answer.warnings.join('; ')}` : ''}`;
    });
  };

  return (
    <form class="card form" id="training-form" onSubmit={submit} noValidate>
      <h2>New training</h2>
      <ErrorBox message={submission.formError} />
      <Field label="Category" error={errors.category}>
        <input name="category" value={category} onInput={(e) => setCategory(e.currentTarget.value)} placeholder="screw" />
      </Field>
      <Field label="Dataset" error={errors.dataset} hint="server folder under PADIM_DATASET_ROOTS, s3://bucket/prefix/ or store:prefix/">
        <input name="dataset" value={dataset} onInput={(e) => setDataset(e.currentTarget.value)} placeholder="/data/screw/train/good" />
      </Field>
      <SettingsFields value={settings} onChange={setSettings} errors={errors} withVersions />
      <SubmitButton busy={submission.busy} label="Start training" />
      <Notice message={submission.notice} />
    </form>
  );
}

interface BatchLine {
  category: string;
  dataset: string;
}

/** Lines of `category` or `category dataset` (spaces, tabs or a comma between); blank lines and # comments are skipped. */
function parseBatchLines(text: string, datasetTemplate: string): BatchLine[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [category, ...rest] = line.split(/[\s,]+/);
      const dataset = rest.join(' ') || datasetTemplate.split('{category}').join(category);
      return { category, dataset };
    });
}

export function BatchTrainingForm({ onSubmitted }: { onSubmitted: () => void }) {
  const [text, setText] = useState('');
  const [template, setTemplate] = useState('');
  const [settings, setSettings] = useState(DEFAULT_SETTINGS);
  const [lines, setLines] = useState<BatchLine[]>([]);
  const submission = useSubmission((field) => /^runs\.\d+\./.test(field));

  const loadFile = async (file: File | undefined) => {
    if (file) setText(await file.text());
  };

  const submit = (event: Event) => {
    event.preventDefault();
    const parsed = parseBatchLines(text, template);
    setLines(parsed);
    if (parsed.length === 0) {
      submission.setFormError('List at least one category.');
      return;
    }
    void submission.run(async () => {
      const answer = await api.trainBatch(parsed.map((line) => requestOf(line.category, line.dataset, settings)));
      onSubmitted();
      return `Queued ${answer.runs.length} run${answer.runs.length === 1 ? '' : 's'}: ${answer.runs.map((r) => r.category).join(', ')}`;
    });
  };

  // 'runs.2.dataset' → the line's category, the field and the API's message.
  const lineErrors = Object.entries(submission.fieldErrors).map(([path, message]) => {
    const [, index, field] = /^runs\.(\d+)\.(.+)$/.exec(path)!;
    return `${lines[Number(index)]?.category ?? `run ${index}`}: ${field}: ${message}`;
  });

  return (
    <form class="card form" id="batch-training-form" onSubmit={submit} noValidate>
      <h2>Train many categories</h2>
      <p class="muted small">One category per line, optionally followed by its dataset; every run is checked before any is queued.</p>
      <ErrorBox message={submission.formError ?? (lineErrors.length > 0 ? 'Nothing was queued: fix these lines.' : null)} />
      {lineErrors.length > 0 ? (
        <ul class="field-error-list">
          {lineErrors.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      ) : null}
      <Field label="Categories">
        <textarea
          name="categories"
          rows={6}
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          placeholder={'screw\nbottle /data/bottle/train/good'}
        />
      </Field>
      <Field label="…or upload a list" hint=".txt or .csv, one category per line">
        <input name="category-list" type="file" accept=".txt,.csv,text/plain,text/csv" onChange={(e) => void loadFile(e.currentTarget.files?.[0])} />
      </Field>
      <Field label="Dataset of each category" hint="{category} is replaced by the line's category">
        <input name="dataset-template" value={template} onInput={(e) => setTemplate(e.currentTarget.value)} placeholder="/data/mvtec/{category}/train/good" />
      </Field>
      <SettingsFields value={settings} onChange={setSettings} errors={{}} withVersions={false} />
      <SubmitButton busy={submission.busy} label="Start all" />
      <Notice message={submission.notice} />
    </form>
  );
}
