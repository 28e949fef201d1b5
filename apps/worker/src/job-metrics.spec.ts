import { describe, expect, it } from '@jest/globals';
import { UnrecoverableError } from 'bullmq';
import { JobName } from '@padim-fleet/contracts';
import { JobEnd, runEndOf } from './job-metrics';
import { RunStoppedError } from './jobs/job-context';

const RUN = '0b6f3c1e-5d3a-4f7e-9c1b-2a8d4e6f0a11';
const SCORING = '7c2d9e4f-1a3b-4c5d-8e6f-9a0b1c2d3e4f';
const completed = (result: unknown = {}): JobEnd => ({ completed: true, result });
const failed = (final: boolean, error: Error = new Error('disk full')): JobEnd => ({ completed: false, final, error });
const job = (name: JobName, data: Record<string, unknown> = { runId: RUN }) => ({ name, data });

describe('runEndOf', () => {
  it('ends a training run with its FitGaussian: succeeded when it completes', () => {
    expect(runEndOf(job(JobName.FitGaussian), completed())).toEqual({ counter: 'training', id: RUN, outcome: 'succeeded' });
    expect(runEndOf(job(JobName.ExtractFeatures), completed())).toBeNull();
    expect(runEndOf(job(JobName.PrepareTraining), completed())).toBeNull();
  });

  it('fails a training run with the first of its jobs to fail for good; a retried attempt ends nothing', () => {
    for (const name of [JobName.PrepareTraining, JobName.ExtractFeatures, JobName.FitGaussian]) {
      expect(runEndOf(job(name), failed(true))).toEqual({ counter: 'training', id: RUN, outcome: 'failed' });
      expect(runEndOf(job(name), failed(false))).toBeNull();
    }
    expect(runEndOf(job(JobName.ExtractFeatures), failed(true, new RunStoppedError(RUN, 'failed')))).toMatchObject({ outcome: 'failed' });
    expect(runEndOf(job(JobName.ExtractFeatures), failed(true, new UnrecoverableError('bad payload')))).toMatchObject({ outcome: 'failed' });
  });

  it('counts a run stopped by a cancel as cancelled', () => {
    expect(runEndOf(job(JobName.ExtractFeatures), failed(true, new RunStoppedError(RUN, 'cancelled')))).toEqual({
      counter: 'training',
      id: RUN,
      outcome: 'cancelled',
    });
  });

  it('ends a batch scoring with AssembleScoring, or with the first of its jobs to fail for good', () => {
    const data = { scoringId: SCORING };
    expect(runEndOf(job(JobName.AssembleScoring, data), completed())).toEqual({ counter: 'scoring', kind: 'batch', id: SCORING, outcome: 'succeeded' });
    expect(runEndOf(job(JobName.ScoreChunk, data), completed())).toBeNull();
    expect(runEndOf(job(JobName.PrepareScoring, data), completed())).toBeNull();
    for (const name of [JobName.PrepareScoring, JobName.ScoreChunk, JobName.AssembleScoring]) {
      expect(runEndOf(job(name, data), failed(true))).toEqual({ counter: 'scoring', kind: 'batch', id: SCORING, outcome: 'failed' });
      expect(runEndOf(job(name, data), failed(false))).toBeNull();
    }
  });

  it('ends an online request with its ScoreImages job: abandoned when the API had stopped waiting (a null answer)', () => {
    const data = { requestId: RUN };
    expect(runEndOf(job(JobName.ScoreImages, data), completed({ results: [] }))).toEqual({
      counter: 'scoring',
      kind: 'online',
      id: null,
      outcome: 'succeeded',
    });
    expect(runEndOf(job(JobName.ScoreImages, data), completed(null))).toMatchObject({ kind: 'online', outcome: 'abandoned' });
    expect(runEndOf(job(JobName.ScoreImages, data), failed(true))).toMatchObject({ kind: 'online', outcome: 'failed' });
    expect(runEndOf(job(JobName.ScoreImages, data), failed(false))).toBeNull();
  });

  it('ends nothing for the maintenance jobs, or a job without its run id', () => {
    expect(runEndOf(job(JobName.SweepOnlineResults, {}), completed())).toBeNull();
    expect(runEndOf(job(JobName.AbortStaleWrites, {}), failed(true))).toBeNull();
    expect(runEndOf(job(JobName.FitGaussian, {}), completed())).toBeNull();
  });
});
