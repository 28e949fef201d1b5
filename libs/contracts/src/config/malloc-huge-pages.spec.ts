import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  MALLOC_HUGE_PAGES_TUNABLE,
  hugePagesContext,
  hugePagesRelaunchSkipped,
  parseThpMode,
  tunablesWithHugePages,
  type HugePagesContext,
} from './malloc-huge-pages';

const QUALIFYING: HugePagesContext = { env: {}, platform: 'linux', glibcVersion: '2.36', thpMode: 'madvise', nodeFlags: [] };

describe('tunablesWithHugePages', () => {
  it('adds the tunable to none or to the tunables already set', () => {
    expect(tunablesWithHugePages(undefined)).toBe(MALLOC_HUGE_PAGES_TUNABLE);
    expect(tunablesWithHugePages('')).toBe(MALLOC_HUGE_PAGES_TUNABLE);
    expect(tunablesWithHugePages('glibc.malloc.arena_max=2')).toBe(`glibc.malloc.arena_max=2:${MALLOC_HUGE_PAGES_TUNABLE}`);
  });

  it('leaves a hugetlb setting of the caller alone, whatever its value', () => {
    expect(tunablesWithHugePages('glibc.malloc.hugetlb=0')).toBeNull();
    expect(tunablesWithHugePages('glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2')).toBeNull();
  });
});

describe('parseThpMode', () => {
  it('reads the bracketed mode of the kernel file', () => {
    expect(parseThpMode('always [madvise] never\n')).toBe('madvise');
    expect(parseThpMode('[always] madvise never\n')).toBe('always');
    expect(parseThpMode('')).toBeUndefined();
  });
});

describe('hugePagesRelaunchSkipped', () => {
  it('relaunches on Linux with glibc 2.35 or later and THP in madvise mode', () => {
    expect(hugePagesRelaunchSkipped(QUALIFYING)).toBeNull();
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, glibcVersion: '2.35' })).toBeNull();
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, glibcVersion: '3.0' })).toBeNull();
  });

  it('names why it does not', () => {
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, env: { PADIM_MALLOC_HUGE_PAGES: '0' } })).toBe('PADIM_MALLOC_HUGE_PAGES=0');
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, platform: 'darwin' })).toBe('not Linux (darwin)');
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, env: { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' } })).toMatch(/already sets/);
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, glibcVersion: undefined })).toBe('not glibc');
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, glibcVersion: '2.31' })).toBe('glibc 2.31 is older than 2.35');
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, thpMode: 'always' })).toMatch(/are always, not madvise/);
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, thpMode: undefined })).toMatch(/are unavailable/);
    expect(hugePagesRelaunchSkipped({ ...QUALIFYING, nodeFlags: ['--inspect=9229'] })).toMatch(/debugger/);
  });
});

// The relaunch itself, through a script that calls it as an entry point does, against the built library.
const DIST = path.resolve(__dirname, '../../dist/index.js');
const FIXTURE = `
const { relaunchWithMallocHugePages } = require(${JSON.stringify(DIST)});
relaunchWithMallocHugePages().then((code) => {
  if (code !== null) return process.exit(code);
  // 64 MiB from malloc, touched: in 2 MiB pages where the tunable took effect.
  Buffer.alloc(64 * 2 ** 20, 1);
  const smaps = require('node:fs').readFileSync('/proc/self/smaps_rollup', 'utf8');
  const anonHugeKB = Number(/AnonHugePages:\\s+(\\d+)/.exec(smaps)[1]);
  process.stdout.write(JSON.stringify({ pid: process.pid, ppid: process.ppid, tunables: process.env.GLIBC_TUNABLES ?? null, anonHugeKB, args: process.argv.slice(2) }) + '\\n');
  if (process.argv[2] === 'wait') setInterval(() => {}, 1000);
  else process.exit(7);
});
`;

interface FixtureRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  report: { pid: number; ppid: number; tunables: string | null; anonHugeKB: number; args: string[] };
}

const dir = mkdtempSync(path.join(tmpdir(), 'padim-hugepages-'));
const script = path.join(dir, 'entry.js');
writeFileSync(script, FIXTURE);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the fixture; `onReport` sees the running process's report line (and may signal the launcher). */
function runFixture(args: string[], env: NodeJS.ProcessEnv, onReport?: (report: FixtureRun['report'], launcherPid: number) => void): Promise<FixtureRun> {
  return new Promise((resolve, reject) => {
    const launcher = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let report: FixtureRun['report'] | undefined;
    launcher.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!report && out.includes('\n')) {
        report = JSON.parse(out.split('\n')[0]);
        onReport?.(report!, launcher.pid!);
      }
    });
    launcher.on('error', reject);
    launcher.on('exit', (code, signal) => (report ? resolve({ code, signal, report }) : reject(new Error(`fixture printed no report: ${out}`))));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const baseEnv = { ...process.env };
delete baseEnv.GLIBC_TUNABLES;
delete baseEnv.PADIM_MALLOC_HUGE_PAGES;
delete baseEnv.NODE_OPTIONS;
const skipped = hugePagesRelaunchSkipped({ ...hugePagesContext(), env: baseEnv, nodeFlags: [] });
if (skipped) process.stdout.write(`malloc-huge-pages.spec: relaunch tests skipped on this machine: ${skipped}\n`);
const onQualifyingMachine = skipped ? it.skip : it;

describe('relaunchWithMallocHugePages', () => {
  it('needs the built library', () => {
    expect(existsSync(DIST)).toBe(true);
  });

  onQualifyingMachine(
    'runs the entry again as a child with the tunable, its arguments kept, and exits with its code',
    async () => {
      const run = await runFixture(['exit', '--flag'], baseEnv);
      expect(run.code).toBe(7);
      expect(run.report.tunables).toBe(MALLOC_HUGE_PAGES_TUNABLE);
      expect(run.report.args).toEqual(['exit', '--flag']);
      expect(run.report.ppid).not.toBe(process.pid);
      // The tunable took effect: the touched 64 MiB sit (mostly) in huge pages.
      expect(run.report.anonHugeKB).toBeGreaterThanOrEqual(32 * 1024);
    },
    30_000,
  );

  onQualifyingMachine(
    'keeps tunables already set beside it',
    async () => {
      const run = await runFixture(['exit'], { ...baseEnv, GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' });
      expect(run.code).toBe(7);
      expect(run.report.tunables).toBe(`glibc.malloc.arena_max=4:${MALLOC_HUGE_PAGES_TUNABLE}`);
    },
    30_000,
  );

  onQualifyingMachine(
    'passes SIGTERM on, and ends by it where the child did',
    async () => {
      let childPid = 0;
      const run = await runFixture(['wait'], baseEnv, (report, launcherPid) => {
        childPid = report.pid;
        process.kill(launcherPid, 'SIGTERM');
      });
      expect(childPid).not.toBe(0);
      expect(run.signal).toBe('SIGTERM');
      expect(() => process.kill(childPid, 0)).toThrow(/ESRCH/);
    },
    30_000,
  );

  onQualifyingMachine(
    'leaves no child behind when the launcher is killed by SIGKILL',
    async () => {
      let childPid = 0;
      const run = await runFixture(['wait'], baseEnv, (report, launcherPid) => {
        childPid = report.pid;
        process.kill(launcherPid, 'SIGKILL');
      });
      expect(run.signal).toBe('SIGKILL');
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && isAlive(childPid)) await new Promise((r) => setTimeout(r, 50));
      expect(isAlive(childPid)).toBe(false);
    },
    30_000,
  );

  it('runs the entry where it was started with PADIM_MALLOC_HUGE_PAGES=0', async () => {
    const run = await runFixture(['exit'], { ...baseEnv, PADIM_MALLOC_HUGE_PAGES: '0' });
    expect(run.code).toBe(7);
    expect(run.report.tunables).toBeNull();
    expect(run.report.ppid).toBe(process.pid);
  }, 30_000);
});
