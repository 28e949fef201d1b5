import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/**
 * glibc's malloc tunable (glibc 2.35 on) that marks the memory it maps for transparent huge pages
 * (madvise MADV_HUGEPAGE). Training allocates hundreds of megabytes afresh: the float64 accumulator
 * (165 MB at resnet18 d=100), and onnxruntime-node copies every output into a new buffer (13 MB per
 * backbone batch). Each 4 KiB page of those costs a fault on first touch, about 10 µs on a virtual
 * machine; in 2 MiB pages that falls away. `npm run bench:train` on 2 cores: pipeline ratio 0.701
 * with it against 0.581 without, in CPU 34.7 against 36.5 ms per image.
 */
export const MALLOC_HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1';

/** Set to 0 to keep a process as it was started: no relaunch with MALLOC_HUGE_PAGES_TUNABLE. */
export const MALLOC_HUGE_PAGES_ENV = 'PADIM_MALLOC_HUGE_PAGES';

const THP_ENABLED_PATH = '/sys/kernel/mm/transparent_hugepage/enabled';

/** What decides whether a process relaunches itself with MALLOC_HUGE_PAGES_TUNABLE. */
export interface HugePagesContext {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  /** glibc's version at run time ("2.36"), or undefined where the C library is not glibc (musl). */
  glibcVersion: string | undefined;
  /** The kernel's transparent huge page mode: the bracketed word of THP_ENABLED_PATH, or undefined where it cannot be read. */
  thpMode: string | undefined;
  /** Node's own flags and NODE_OPTIONS: a debugger's port cannot be opened twice. */
  nodeFlags: string[];
}

/**
 * The GLIBC_TUNABLES value that adds MALLOC_HUGE_PAGES_TUNABLE to `current` (tunables are
 * colon-separated), or null where `current` already sets glibc.malloc.hugetlb (the caller's choice stands).
 */
export function tunablesWithHugePages(current: string | undefined): string | null {
  if (hugetlbTunable(current) !== undefined) return null;
  return [...(current ?? '').split(':').filter((t) => t.length > 0), MALLOC_HUGE_PAGES_TUNABLE].join(':');
}

/** The glibc.malloc.hugetlb entry of a GLIBC_TUNABLES value ("glibc.malloc.hugetlb=1"), or undefined. */
function hugetlbTunable(tunables: string | undefined): string | undefined {
  return (tunables ?? '').split(':').find((t) => t.split('=')[0] === 'glibc.malloc.hugetlb');
}

/** Why the environment alone keeps a process as started (opted out, or hugetlb already set), or null. */
function environmentSkip(env: NodeJS.ProcessEnv): string | null {
  if (env[MALLOC_HUGE_PAGES_ENV] === '0') return `${MALLOC_HUGE_PAGES_ENV}=0`;
  if (hugetlbTunable(env.GLIBC_TUNABLES) !== undefined) return `GLIBC_TUNABLES already sets glibc.malloc.hugetlb`;
  return null;
}

/**
 * Why the process keeps running as started, or null where relaunching it with the tunable helps:
 * only on Linux with glibc 2.35 or later and THP in `madvise` mode (with `always` every mapping gets
 * huge pages already, with `never` none can).
 */
export function hugePagesRelaunchSkipped(ctx: HugePagesContext): string | null {
  const skip = environmentSkip(ctx.env);
  if (skip !== null) return skip;
  if (ctx.platform !== 'linux') return `not Linux (${ctx.platform})`;
  if (!ctx.glibcVersion) return 'not glibc';
  const [major, minor] = ctx.glibcVersion.split('.').map(Number);
  if (!(major > 2 || (major === 2 && minor >= 35))) return `glibc ${ctx.glibcVersion} is older than 2.35`;
  if (ctx.thpMode !== 'madvise') return `transparent huge pages are ${ctx.thpMode ?? 'unavailable'}, not madvise`;
  if (ctx.nodeFlags.some((f) => f.startsWith('--inspect'))) return 'a debugger is attached (--inspect)';
  return null;
}

/** The bracketed mode of THP_ENABLED_PATH ("always [madvise] never" → "madvise"), or undefined. */
export function parseThpMode(text: string): string | undefined {
  return /\[(\w+)\]/.exec(text)?.[1];
}

/** This process's HugePagesContext. */
export function hugePagesContext(): HugePagesContext {
  let thpMode: string | undefined;
  try {
    thpMode = parseThpMode(readFileSync(THP_ENABLED_PATH, 'utf8'));
  } catch {
    thpMode = undefined;
  }
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return {
    env: process.env,
    platform: process.platform,
    glibcVersion: header?.glibcVersionRuntime,
    thpMode,
    nodeFlags: [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)],
  };
}

/**
 * How this process stands: the glibc.malloc.hugetlb tunable it was started with and the kernel's
 * transparent huge page mode, or why it runs without (for `padim doctor`).
 */
export function mallocHugePagesState(): string {
  const ctx = hugePagesContext();
  const tunable = hugetlbTunable(ctx.env.GLIBC_TUNABLES);
  if (tunable) return `GLIBC_TUNABLES ${tunable}, transparent huge pages ${ctx.thpMode ?? 'unavailable'}`;
  return `off: ${hugePagesRelaunchSkipped(ctx) ?? `start the process with GLIBC_TUNABLES=${tunablesWithHugePages(ctx.env.GLIBC_TUNABLES)} to turn them on`}`;
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** The launcher's pid, in a relaunched child's environment. */
const RELAUNCHED_BY_ENV = 'PADIM_RELAUNCHED_BY';
/** How often a relaunched child looks for its launcher. */
const LAUNCHER_WATCH_MS = 200;

/**
 * In a relaunched child: ends it (SIGKILL, as its launcher was) once the launcher is gone, so a
 * launcher killed by a signal it cannot pass on (SIGKILL) leaves no child behind.
 */
function watchLauncher(): void {
  const launcher = Number(process.env[RELAUNCHED_BY_ENV]);
  if (!Number.isInteger(launcher) || launcher !== process.ppid) return;
  setInterval(() => {
    if (process.ppid !== launcher) process.kill(process.pid, 'SIGKILL');
  }, LAUNCHER_WATCH_MS).unref();
}

/**
 * For a process's entry point (a command or a bench): where huge pages would help and are not
 * yet asked for (hugePagesRelaunchSkipped), runs this same script again as a child with
 * MALLOC_HUGE_PAGES_TUNABLE added to GLIBC_TUNABLES (glibc reads it only at start), its stdio
 * inherited and SIGINT, SIGTERM and SIGHUP passed on, and resolves to its exit code once it ends (a
 * child ended by a signal ends this process by the same signal; a child whose launcher is killed ends
 * itself within LAUNCHER_WATCH_MS). Resolves to null where the process
 * should go on itself: outside the main thread, where hugePagesRelaunchSkipped gives a reason, or
 * where the child cannot be started.
 */
export async function relaunchWithMallocHugePages(): Promise<number | null> {
  if (!isMainThread) return null;
  watchLauncher();
  // The environment first: a relaunched child stops here without building its report.
  if (environmentSkip(process.env) !== null || hugePagesRelaunchSkipped(hugePagesContext()) !== null) return null;
  const env = { ...process.env, GLIBC_TUNABLES: tunablesWithHugePages(process.env.GLIBC_TUNABLES)!, [RELAUNCHED_BY_ENV]: String(process.pid) };
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  return new Promise((resolve) => {
    // Where the child cannot start, this process goes on as it was started. (A signal passed on to a
    // child that has just ended fails too; its exit still comes.)
    child.on('error', (error) => {
      if (child.pid !== undefined) return;
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      process.stderr.write(`could not relaunch ${process.argv[1]} with GLIBC_TUNABLES=${env.GLIBC_TUNABLES} (${error.message}); going on without it\n`);
      resolve(null);
    });
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      if (signal) {
        process.kill(process.pid, signal);
        resolve(128 + (constants.signals[signal] ?? 0));
      } else resolve(code ?? 1);
    });
  });
}
