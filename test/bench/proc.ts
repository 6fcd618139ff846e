// What Linux knows about a process: peak and current resident memory, CPU time. Read from /proc.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

export interface MemorySample {
  /** Peak resident set size over the life of the process (VmHWM), MiB. */
  peakRssMiB: number;
  rssMiB: number;
}

export function memoryOf(pid: number): MemorySample | undefined {
  const file = `/proc/${String(pid)}/status`;
  if (!existsSync(file)) return undefined;
  const status = readFileSync(file, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { peakRssMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
}

/** User plus system CPU seconds the process has used so far. */
export function cpuSecondsOf(pid: number): number | undefined {
  const file = `/proc/${String(pid)}/stat`;
  if (!existsSync(file)) return undefined;
  // The command name may hold spaces and parentheses: fields count from after the last ')'.
  const stat = readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

/** The pid of the real child behind a ManagedProcess (its guard writes it to `<logFile>.pid`). */
export function childPid(logFile: string): number | undefined {
  const file = `${logFile}.pid`;
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
