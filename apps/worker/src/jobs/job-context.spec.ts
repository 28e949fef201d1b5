import { describe, expect, it } from '@jest/globals';
import type { Job } from 'bullmq';
import { createFleetLogger } from '@padim-fleet/fleet';
import { bindJobFields, jobLogFields } from './job-context';

const job = (name: string, queueName: string, id: string, data: unknown) => ({ id, name, queueName, data }) as unknown as Job;

describe('jobLogFields', () => {
  it("takes the job's id, name and queue, and the ids its data has", () => {
    expect(jobLogFields(job('ExtractFeatures', 'extract', 'r1-shard-2', { runId: 'r1', shard: 2, shardCount: 4, images: 10 }))).toEqual({
      jobId: 'r1-shard-2',
      jobName: 'ExtractFeatures',
      queue: 'extract',
      runId: 'r1',
      shard: 2,
    });
    expect(jobLogFields(job('ScoreChunk', 'score', 's1-chunk-0', { scoringId: 's1', chunk: 0, category: 'screw', version: null }))).toEqual({
      jobId: 's1-chunk-0',
      jobName: 'ScoreChunk',
      queue: 'score',
      scoringId: 's1',
      chunk: 0,
      category: 'screw',
    });
  });

  it('takes nothing from data that is not an object, nor values that are not short strings or numbers', () => {
    expect(jobLogFields(job('X', 'reduce', 'j', null))).toEqual({ jobId: 'j', jobName: 'X', queue: 'reduce' });
    expect(jobLogFields(job('X', 'reduce', 'j', { runId: { $ne: 1 }, category: 'c'.repeat(200), version: ['v'] }))).toEqual({
      jobId: 'j',
      jobName: 'X',
      queue: 'reduce',
    });
  });
});

describe('bindJobFields', () => {
  it("adds what a handler learns to the job's logger, once, leaving the fields it has", () => {
    const lines: string[] = [];
    const log = createFleetLogger({}, 'worker', { pretty: false, destination: { write: (l: string) => void lines.push(l) } }).child({
      jobId: 'j',
      category: 'screw',
    });
    bindJobFields(log, { category: 'other', version: 'v1', scoringId: null });
    log.info('done');
    const line = lines.map((l) => JSON.parse(l))[0];
    expect(line).toMatchObject({ jobId: 'j', category: 'screw', version: 'v1' });
    expect(line).not.toHaveProperty('scoringId');
    expect(lines[0].match(/"category"/g)).toHaveLength(1);
  });
});
