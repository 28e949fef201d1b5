import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { processRegistry } from './metrics-registry';

/** How a training run or a scoring ended. An online request the API stopped waiting for is `abandoned`. */
export type RunOutcome = 'succeeded' | 'failed' | 'cancelled' | 'abandoned';
/** Online scoring requests (ScoreImages) or batch scorings (a PrepareScoring, ScoreChunk, AssembleScoring flow). */
export type ScoringKind = 'online' | 'batch';

/** Seconds: an online job takes a tenth of a second, an extract shard or a reduce of a large model up to an hour. */
const JOB_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/**
 * A worker process's metrics: its jobs (durations, in flight), the runs and scorings it ended, the
 * images it extracted and scored, its model cache, and the process metrics. Each job is counted once,
 * by the worker that ran it, so sums over workers are exact.
 */
export class WorkerMetrics {
  readonly registry: Registry;
  readonly jobSeconds: Histogram<'queue' | 'job' | 'outcome'>;
  readonly jobsInFlight: Gauge<'queue'>;
  readonly trainingRuns: Counter<'outcome'>;
  readonly scorings: Counter<'kind' | 'outcome'>;
  readonly imagesExtracted: Counter;
  readonly imagesScored: Counter<'kind'>;
  readonly modelCacheHits: Counter;
  readonly modelCacheMisses: Counter;
  readonly modelCacheBytes: Gauge;
  private readModelCacheBytes: () => number = () => 0;

  constructor() {
    this.registry = processRegistry();
    const registers = [this.registry];
    this.jobSeconds = new Histogram({
      name: 'padim_job_duration_seconds',
      help: 'Time a job attempt ran on this worker, by queue, job name and outcome (completed, failed)',
      labelNames: ['queue', 'job', 'outcome'],
      buckets: JOB_SECONDS_BUCKETS,
      registers,
    });
    this.jobsInFlight = new Gauge({ name: 'padim_worker_jobs_in_flight', help: 'Jobs this worker is running now, by queue', labelNames: ['queue'], registers });
    this.trainingRuns = new Counter({
      name: 'padim_training_runs_total',
      help: 'Training runs ended by this worker, by outcome (succeeded, failed, cancelled); each run is counted once in the fleet',
      labelNames: ['outcome'],
      registers,
    });
    this.scorings = new Counter({
      name: 'padim_scorings_total',
      help: 'Scorings ended by this worker, by kind (online, batch) and outcome (succeeded, failed, abandoned); each is counted once in the fleet',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.imagesExtracted = new Counter({
      name: 'padim_images_extracted_total',
      help: 'Training images processed by this worker: decoded, run through the backbone and accumulated (an unreadable image, skipped, counts too)',
      registers,
    });
    this.imagesScored = new Counter({
      name: 'padim_images_scored_total',
      help: 'Images scored by this worker (with a score; rows with an error are not counted), by kind (online, batch)',
      labelNames: ['kind'],
      registers,
    });
    this.modelCacheHits = new Counter({
      name: 'padim_model_cache_hits_total',
      help: 'Scorer lookups served by a model already loaded (or loading) in the cache',
      registers,
    });
    this.modelCacheMisses = new Counter({ name: 'padim_model_cache_misses_total', help: 'Scorer lookups that loaded a model into the cache', registers });
    const readBytes = () => this.readModelCacheBytes();
    this.modelCacheBytes = new Gauge({
      name: 'padim_model_cache_bytes',
      help: 'Bytes of the models loaded in the scorer cache (counted against SCORE_CACHE_MB)',
      registers,
      collect() {
        this.set(readBytes());
      },
    });
    // The series exist from the start, at zero, so that rate() and the dashboard see them before the first event.
    for (const outcome of ['succeeded', 'failed', 'cancelled'] as const) this.trainingRuns.inc({ outcome }, 0);
    for (const kind of ['online', 'batch'] as const) {
      this.imagesScored.inc({ kind }, 0);
      for (const outcome of ['succeeded', 'failed'] as const) this.scorings.inc({ kind, outcome }, 0);
    }
  }

  /** The model cache whose loaded bytes `padim_model_cache_bytes` reports. */
  watchModelCache(loadedBytes: () => number): void {
    this.readModelCacheBytes = loadedBytes;
  }

  /** Lookups of a model cache, for ModelCache's observer. */
  modelCacheLookup(hit: boolean): void {
    (hit ? this.modelCacheHits : this.modelCacheMisses).inc();
  }
}
