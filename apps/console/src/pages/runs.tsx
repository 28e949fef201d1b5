/** Runs: recent trainings with live per-shard progress, cancel, and the forms that submit one run or many. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, type RunState, type ShardStatus, type TrainingRunSummary, type TrainingStatus } from '../api';
import { linkProps } from '../router';
import { Badge, ErrorBox, ProgressBar, formatNumber, formatSeconds, formatTime, shortId, usePolling } from '../ui';
import { BatchTrainingForm, TrainingForm } from './training-forms';

const RUNS_SHOWN = 25;
const POLL_MS = 2000;
const UNFINISHED: RunState[] = ['preparing', 'queued', 'running'];

const isUnfinished = (state: RunState) => UNFINISHED.includes(state);

/** Images per second of each shard, from the change of its count between two polls. */
interface Sample {
  done: number;
  at: number;
}

export function RunsPage() {
  const [runs, setRuns] = useState<TrainingRunSummary[] | null>(null);
  const [details, setDetails] = useState<Record<string, TrainingStatus>>({});
  const [rates, setRates] = useState<Record<string, number>>({});
  const [expanded, setExpanded] = useState<Record<string, boolean>>({});
  const [error, setError] = useState<string | null>(null);
  const samples = useRef<Record<string, Sample>>({});
  const detailsRef = useRef(details);
  detailsRef.current = details;

  const refresh = async () => {
    try {
      const list = await api.trainings(RUNS_SHOWN);
      // A finished run's details do not change: each is read once; unfinished ones on every poll.
      const stale = list.filter((run) => isUnfinished(run.state) || !detailsRef.current[run.runId] || isUnfinished(detailsRef.current[run.runId].state));
      const fresh = await Promise.all(stale.map((run) => api.training(run.runId).catch(() => null)));
      const now = Date.now();
      const nextRates: Record<string, number> = {};
      const nextDetails = { ...detailsRef.current };
      for (const status of fresh) {
        if (!status) continue;
        nextDetails[status.runId] = status;
        for (const shard of status.shards) {
          const key = `${status.runId}:${shard.shard}`;
          const previous = samples.current[key];
          if (previous && shard.state === 'active' && shard.imagesDone > previous.done) {
            nextRates[key] = (shard.imagesDone - previous.done) / ((now - previous.at) / 1000);
          } else if (previous && shard.state === 'active' && rates[key] !== undefined) {
            nextRates[key] = rates[key];
          }
          if (!previous || shard.imagesDone !== previous.done) samples.current[key] = { done: shard.imagesDone, at: now };
        }
      }
      setRuns(list);
      setDetails(nextDetails);
      setRates(nextRates);
      setError(null);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) setError((e as Error).message);
    }
  };

  useEffect(() => void refresh(), []);
  const anyUnfinished = (runs ?? []).some((run) => isUnfinished(details[run.runId]?.state ?? run.state));
  usePolling(refresh, POLL_MS, anyUnfinished);

  const cancel = async (runId: string) => {
    try {
      await api.cancelTraining(runId);
      await refresh();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section>
      <div class="page-head">
        <h1>Runs</h1>
        <span class="muted">{anyUnfinished ? 'updating every 2 s' : 'nothing running'}</span>
        <button onClick={() => void refresh()}>Refresh</button>
      </div>
      <ErrorBox message={error} />
      {runs === null ? (
        <p class="muted">Loading…</p>
      ) : runs.length === 0 ? (
        <p class="muted">No training runs yet: start one below.</p>
      ) : (
        <table class="table runs-table">
          <thead>
            <tr>
              <th>Created</th>
              <th>Category</th>
              <th>Version</th>
              <th>State</th>
              <th>Progress</th>
              <th>Images/s</th>
              <th>Timings</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <RunRows
                key={run.runId}
                run={run}
                status={details[run.runId]}
                rates={rates}
                expanded={expanded[run.runId] ?? false}
                onToggle={() => setExpanded({ ...expanded, [run.runId]: !expanded[run.runId] })}
                onCancel={() => void cancel(run.runId)}
              />
            ))}
          </tbody>
        </table>
      )}
      <div class="forms">
        <TrainingForm onSubmitted={() => void refresh()} />
        <BatchTrainingForm onSubmitted={() => void refresh()} />
      </div>
    </section>
  );
}

function shardTotals(status: TrainingStatus | undefined): { done: number; total: number } {
  const shards = status?.shards ?? [];
  return { done: shards.reduce((a, s) => a + s.imagesDone, 0), total: shards.reduce((a, s) => a + s.imagesTotal, 0) };
}

/** Live images/s while shards run; once the extraction is over, its average. */
function runRate(status: TrainingStatus | undefined, rates: Record<string, number>): string {
  if (!status) return '—';
  const live = status.shards.map((s) => rates[`${status.runId}:${s.shard}`]).filter((r): r is number => r !== undefined);
  if (live.length > 0) return live.reduce((a, r) => a + r, 0).toFixed(1);
  const { extractSeconds } = status.timings;
  if (extractSeconds && status.shards.every((s) => s.state === 'completed')) return `${(shardTotals(status).total / extractSeconds).toFixed(1)} avg`;
  return '—';
}

function RunRows(props: {
  run: TrainingRunSummary;
  status?: TrainingStatus;
  rates: Record<string, number>;
  expanded: boolean;
  onToggle: () => void;
  onCancel: () => void;
}) {
  const { run, status, rates, expanded } = props;
  const state = status?.state ?? run.state;
  const { done, total } = shardTotals(status);
  const error = status?.error ?? run.error;
  const timings = status?.timings ?? {};
  const reduce = status?.reduce;
  return (
    <>
      <tr class="run-row" data-run-id={run.runId} data-state={state}>
        <td>{formatTime(run.createdAt)}</td>
        <td>{run.category}</td>
        <td>
          <code>{run.version}</code>
        </td>
        <td>
          <Badge value={state} />
        </td>
        <td class="progress-cell">
          <ProgressBar done={done} total={total} label={total > 0 ? `${done} / ${total} images` : state === 'preparing' ? 'unpacking' : '—'} />
          {reduce && reduce.state === 'active' && reduce.stage ? (
            <div class="muted small">
              reduce: {reduce.stage} {reduce.total ? `${reduce.done ?? 0}/${reduce.total}` : ''}
            </div>
          ) : null}
          {error ? <div class="cell-error">{error}</div> : null}
        </td>
        <td class="num run-rate">{runRate(status, rates)}</td>
        <td class="small">
          <Timings timings={timings} />
        </td>
        <td class="actions">
          <button class="link" onClick={props.onToggle} aria-expanded={expanded}>
            {expanded ? 'Hide' : 'Details'}
          </button>
          {isUnfinished(state) ? (
            <button class="danger small-button" onClick={props.onCancel}>
              Cancel
            </button>
          ) : null}
        </td>
      </tr>
      {expanded && status ? (
        <tr class="run-details">
          <td colSpan={8}>
            <RunDetails status={status} rates={rates} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

function Timings({ timings }: { timings: TrainingStatus['timings'] }) {
  const parts: [string, number | undefined][] = [
    ['queued', timings.queuedSeconds],
    ['extract', timings.extractSeconds],
    ['reduce', timings.reduceSeconds],
    ['total', timings.totalSeconds],
  ];
  const shown = parts.filter(([, v]) => v !== undefined);
  if (shown.length === 0) return <span class="muted">—</span>;
  return (
    <span class="timings">
      {shown.map(([name, v]) => (
        <span key={name}>
          {name} {formatSeconds(v)}
        </span>
      ))}
    </span>
  );
}

function RunDetails({ status, rates }: { status: TrainingStatus; rates: Record<string, number> }) {
  const result = status.result;
  return (
    <div class="details">
      <div class="details-meta">
        <span>
          run <code>{status.runId}</code>
        </span>
        <span>{status.imageCount} images</span>
        <span>{status.heldOutCount} held out</span>
        <span>started {formatTime(status.startedAt)}</span>
        <span>finished {formatTime(status.finishedAt)}</span>
      </div>
      <table class="table compact">
        <thead>
          <tr>
            <th>Shard</th>
            <th>State</th>
            <th>Images</th>
            <th>Images/s</th>
            <th>Attempts</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {status.shards.map((shard: ShardStatus) => (
            <tr key={shard.shard} class="shard-row">
              <td>{shard.shard}</td>
              <td>
                <Badge value={shard.state} />
              </td>
              <td class="progress-cell">
                <ProgressBar done={shard.imagesDone} total={shard.imagesTotal} />
              </td>
              <td class="num">{rates[`${status.runId}:${shard.shard}`]?.toFixed(1) ?? '—'}</td>
              <td class="num">{shard.attemptsMade}</td>
              <td class="cell-error">{shard.error ?? ''}</td>
            </tr>
          ))}
          <tr>
            <td>reduce</td>
            <td>
              <Badge value={status.reduce.state} />
            </td>
            <td>
              {status.reduce.state === 'active' && status.reduce.stage
                ? `${status.reduce.stage} ${status.reduce.total ? `${status.reduce.done ?? 0}/${status.reduce.total}` : ''}`
                : ''}
            </td>
            <td />
            <td class="num">{status.reduce.attemptsMade}</td>
            <td class="cell-error">{status.reduce.error ?? ''}</td>
          </tr>
        </tbody>
      </table>
      {result ? (
        <p>
          Model{' '}
          <a {...linkProps(`models?category=${encodeURIComponent(result.category)}`)}>
            {result.category}/{result.version}
          </a>{' '}
          from {result.imageCount} images in {formatSeconds(result.seconds)}
          {result.current ? ', now current' : ', not made current'}
          {result.metrics
            ? `; ${Object.entries(result.metrics)
                .map(([k, v]) => `${k} ${formatNumber(v)}`)
                .join(', ')}`
            : ''}
          . Run {shortId(status.runId)}.
        </p>
      ) : null}
    </div>
  );
}
