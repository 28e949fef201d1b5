import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, it } from '@jest/globals';
import { REPO_ROOT } from '../support/fleet-processes';
import { describeWithS3 } from '../support/services';
import { describeWithShared } from '../../libs/inference/src/testing/shared-data';

/** The short soak's summary (apps/cli/src/soak/soak.ts): its last line of output; each process's output is kept in `logsDir`. */
function runShortSoak(logsDir: string): Promise<{ code: number | null; summary: any; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [path.join(REPO_ROOT, 'apps/cli/dist/soak/soak.js'), '--short', '--logs', logsDir],
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

/**
 * What explains a failed soak: its summary (every target, not only the first that failed), its own log,
 * and the lines of every process's output that name a batch scoring that did not finish (its jobs'
 * states are in the soak's log).
 */
function diagnostics(stderr: string, summary: any, logsDir: string): string {
  const parts = [`the soak's summary: ${JSON.stringify(summary)}`, `the soak's log (last 8000 characters):\n${stderr.slice(-8000)}`];
  const ids: string[] = (summary?.batchScoringsFailed ?? []).map((f: { scoringId: string }) => f.scoringId);
  let files: string[] = [];
  try {
    files = readdirSync(logsDir).filter((f) => f.endsWith('.log'));
  } catch {
    // no logs were written
  }
  for (const id of ids) {
    for (const file of files) {
      const lines = readFileSync(path.join(logsDir, file), 'utf8')
        .split('\n')
        .filter((l) => l.includes(id));
      if (lines.length > 0) parts.push(`${file}, the lines naming ${id} (last 30):\n${lines.slice(-30).join('\n')}`);
    }
  }
  return parts.join('\n\n');
}

describeWithShared('soak: the fleet under load with worker kills, a store outage and a Redis restart', () => {
  describeWithS3('with S3', () => {
    it('loses, duplicates and leaves behind nothing; every run succeeds with the in-process model', async () => {
      const logsDir = mkdtempSync(path.join(os.tmpdir(), 'padim-soak-logs-'));
      const { code, summary, stderr } = await runShortSoak(logsDir);
      try {
        if (summary === null) throw new Error(`the soak printed no summary (exit ${code})`);
        expectTargetsMet(summary, code);
      } catch (error) {
        (error as Error).message += `\n\n${diagnostics(stderr, summary, logsDir)}`;
        throw error;
      } finally {
        rmSync(logsDir, { recursive: true, force: true });
      }
    }, 300_000);
  });
});

function expectTargetsMet(summary: any, code: number | null): void {
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
}
