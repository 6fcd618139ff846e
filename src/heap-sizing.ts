// The process sizes its own V8 heap. V8 sizes the heap from the host's memory, not the container's,
// and collects lazily below that size: on a 24 GiB host `node dist/main.js` peaked at 354 MiB RSS
// at 1,000 credentials, 177 MiB with the flags below (docs/benchmarks.md). The decision is pure; main.ts
// reads the cgroup files and re-executes itself once with the flags (process.execve keeps the pid).

/** Set in the re-executed process's environment so that it never re-executes again. */
export const HEAP_SIZED_MARKER = 'APICRED_HEAP_SIZED';
/** `off` leaves the heap to Node's defaults and the flags the user gave. */
export const HEAP_SIZING_SWITCH = 'APICRED_HEAP_SIZING';

const MIB = 1024 * 1024;
/** With no cgroup memory limit, size the heap as if the limit were this (old space: half of it). */
export const DEFAULT_BUDGET_MIB = 1024;
/** Half of the limit for the old space, the rest for the young generation, code and native memory. */
const OLD_SPACE_FRACTION = 0.5;
const MIN_OLD_SPACE_MIB = 64;
/** 8 MiB semi-spaces: measured, the same time to Ready as Node's 16 MiB with far less RSS. */
const SEMI_SPACE_MIB = 8;
const MIN_SEMI_SPACE_MIB = 1;

export interface HeapSizingInput {
  /** process.execArgv */
  execArgv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** The cgroup memory limit in bytes, or undefined when there is none (see cgroupMemoryLimit). */
  memoryLimitBytes: number | undefined;
}

export type HeapSizingDecision =
  { action: 'keep'; reason: string } | { action: 're-exec'; flags: string[]; budgetMiB: number };

/** V8 accepts `--max_old_space_size` as well as `--max-old-space-size`. */
function flagName(arg: string): string {
  return (arg.split('=')[0] ?? '').replace(/_/g, '-');
}

const OLD_SPACE_FLAGS = new Set([
  '--max-old-space-size',
  '--max-old-space-size-percentage',
  '--max-heap-size',
]);
const SEMI_SPACE_FLAGS = new Set(['--max-semi-space-size', '--semi-space-size']);
const OPTIMIZE_FOR_SIZE = '--optimize-for-size';

/** The heap flags this process should have and does not, or why it keeps what it has. */
export function decideHeapSizing(input: HeapSizingInput): HeapSizingDecision {
  if (input.env[HEAP_SIZING_SWITCH] === 'off') return { action: 'keep', reason: `${HEAP_SIZING_SWITCH}=off` };
  if (input.env[HEAP_SIZED_MARKER] !== undefined) return { action: 'keep', reason: 'already re-executed' };
  const given = [...input.execArgv, ...(input.env.NODE_OPTIONS ?? '').split(/\s+/)].map(flagName);
  const budgetMiB =
    input.memoryLimitBytes === undefined ? DEFAULT_BUDGET_MIB : Math.floor(input.memoryLimitBytes / MIB);
  const flags: string[] = [];
  if (!given.some((name) => OLD_SPACE_FLAGS.has(name)))
    flags.push(
      `--max-old-space-size=${String(Math.max(MIN_OLD_SPACE_MIB, Math.floor(budgetMiB * OLD_SPACE_FRACTION)))}`,
    );
  // Three semi-spaces make the young generation: keep it within an eighth of a small limit.
  if (!given.some((name) => SEMI_SPACE_FLAGS.has(name)))
    flags.push(
      `--max-semi-space-size=${String(Math.max(MIN_SEMI_SPACE_MIB, Math.min(SEMI_SPACE_MIB, Math.floor(budgetMiB / 24))))}`,
    );
  if (flags.length === 0) return { action: 'keep', reason: 'heap flags given' };
  // V8 then prefers a small heap to a fast one (smaller young generation, slower heap growth).
  // Measured at 1,000 credentials with no limit (docs/benchmarks.md): peak RSS to all Ready 171-185
  // -> 150 MiB, idle 119-125 -> 114 MiB, time to Ready not worse. Only argv can carry it: Node refuses
  // it in NODE_OPTIONS. It rides along with the heap flags; given them all, the user chose.
  if (!given.includes(OPTIMIZE_FOR_SIZE)) flags.push(OPTIMIZE_FOR_SIZE);
  return { action: 're-exec', flags, budgetMiB };
}

/** Reads a file's text, or undefined when it does not exist (injected: the tests give fake cgroup trees). */
export type ReadText = (path: string) => string | undefined;

/**
 * The memory limit of this process's cgroup, or undefined when there is none: cgroup v2
 * (`memory.max`, at /sys/fs/cgroup or, on a hybrid host, /sys/fs/cgroup/unified) and v1
 * (`memory/memory.limit_in_bytes`). The smallest limit on the path to the root counts; "max" and v1's
 * "unlimited" (about 2^63) and anything at or above the host's memory mean no limit.
 */
export function cgroupMemoryLimit(read: ReadText, hostMemoryBytes: number): number | undefined {
  const limits: number[] = [];
  for (const line of (read('/proc/self/cgroup') ?? '').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, controllers = '', path = '/'] = match;
    const files =
      controllers === ''
        ? ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'].map(
            (root) => (dir: string) => `${root}${dir}/memory.max`,
          )
        : controllers.split(',').includes('memory')
          ? [(dir: string) => `/sys/fs/cgroup/memory${dir}/memory.limit_in_bytes`]
          : [];
    for (const file of files)
      for (const dir of ancestors(path)) {
        const value = Number((read(file(dir)) ?? '').trim());
        if (Number.isFinite(value) && value > 0 && value < hostMemoryBytes) limits.push(value);
      }
  }
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

/** "/a/b" → ["/a/b", "/a", ""] (the root's files are at the mount point itself). */
function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  const dirs: string[] = [];
  for (let length = parts.length; length >= 0; length--)
    dirs.push(length === 0 ? '' : `/${parts.slice(0, length).join('/')}`);
  return dirs;
}
