import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { expect, it } from '@jest/globals';
import { REPO_ROOT } from '../support/fleet-processes';
import { describeWithS3 } from '../support/services';
import { describeWithShared } from '../../libs/inference/src/testing/shared-data';

/** The short soak's summary (apps/cli/src/soak/soak.ts): its last line of output. */
function runShortSoak(): Promise<{ code: number | null; summary: any; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [path.join(REPO_ROOT, 'apps/cli/dist/soak/soak.js'), '--short'],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const last = stdout.trim().split('\n').pop() ?? '';
        let summary: unknown = null;
        try {
          summary = JSON.parse(last);
        } catch {
          // no summary: the soak itself failed, and its stderr says why
        }
        resolve({ code: error ? (child.exitCode ?? 1) : 0, summary, stderr });
      },
    );
  });
}

describeWithShared('soak: the fleet under load with worker kills, a store outage and a Redis restart', () => {
  describeWithS3('with S3', () => {
    it('loses, duplicates and leaves behind nothing; every run succeeds with the in-process model', async () => {
      const { code, summary, stderr } = await runShortSoak();
      if (summary === null) throw new Error(`the soak printed no summary (exit ${code}):\n${stderr.slice(-4000)}`);
      // The faults did happen.
      expect(summary.workerKills).toBeGreaterThanOrEqual(1);
      expect([summary.storeOutages, summary.redisRestarts]).toEqual([1, 1]);
      expect(summary.unexpectedExits).toEqual([]);
      // Training: every run completes with the model the in-process trainer makes of the same images.
      expect(summary.runsSubmitted).toBeGreaterThan(0);
      expect(summary.runFailures).toEqual([]);
      expect(summary.runsSucceeded).toBe(summary.runsSubmitted);
      expect(summary.modelsIdenticalToInProcess).toBe(summary.modelsCompared);
      // Batch scoring: one correct row per archive entry, corrupt entries included.
      expect(summary.batchScoringsFailed).toEqual([]);
      expect(summary.batchRowsExpected).toBeGreaterThan(0);
      expect({ rows: summary.batchRows, lost: summary.lostRows, duplicated: summary.duplicateRows, wrong: summary.wrongRows }).toEqual({
        rows: summary.batchRowsExpected,
        lost: 0,
        duplicated: 0,
        wrong: 0,
      });
      // Online scoring answers, and fails only while a fault lasts.
      expect(summary.onlineRequests).toBeGreaterThan(0);
      expect(summary.onlineErrorsOutsideFaults).toBe(0);
      // Nothing left behind, nothing half-written.
      expect({ orphans: summary.orphanExamples, incompleteVersions: summary.incompleteVersions }).toEqual({ orphans: [], incompleteVersions: 0 });
      // Worker memory is measured; its growth is a target of soaks of 4 minutes or more, whose quarters outlast the warm-up.
      expect(summary.workerRssStartMB).toBeGreaterThan(0);
      expect(summary.workerRssEndMB).toBeGreaterThan(0);
      expect(summary.failedTargets).toEqual([]);
      expect(code).toBe(0);
    }, 300_000);
  });
});
