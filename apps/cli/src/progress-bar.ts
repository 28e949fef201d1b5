import type { ProgressEvent } from '@padim-fleet/inference';

/** A stage's progress: the in-process pipeline's events, or a fleet run's stages as `padim remote train` polls them. */
export type StageProgress = Pick<ProgressEvent, 'done' | 'total'> & { stage: string };

/**
 * Progress on stderr: a redrawn bar with images/s on a terminal, a line per quarter otherwise
 * (logs stay short in CI).
 */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): (e: StageProgress) => void {
  const started = new Map<string, number>();
  const lastQuarter = new Map<string, number>();
  return (e) => {
    const now = Date.now();
    if (!started.has(e.stage) || e.done === 0) started.set(e.stage, now);
    const seconds = (now - started.get(e.stage)!) / 1000;
    const rate = seconds > 0 && e.done > 0 ? `${(e.done / seconds).toFixed(1)} img/s` : '';
    const pct = e.total > 0 ? Math.floor((100 * e.done) / e.total) : 100;
    const width = 30;
    const filled = Math.round((width * pct) / 100);
    const line = `${e.stage.padEnd(9)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${e.done}/${e.total} ${rate}`;
    if (stream.isTTY) {
      stream.write(`\r${line}${e.done >= e.total ? '\n' : ''}`);
      return;
    }
    const quarter = Math.floor(pct / 25);
    if (quarter !== lastQuarter.get(e.stage) || e.done >= e.total) {
      if (!(e.done >= e.total && lastQuarter.get(e.stage) === 4)) stream.write(`${line}\n`);
      lastQuarter.set(e.stage, e.done >= e.total ? 4 : quarter);
    }
  };
}
