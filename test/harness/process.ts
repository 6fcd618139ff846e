// A child process that cannot outlive the test run: it runs under a bash guard that kills it when the
// guard's stdin (a pipe from this process) closes, which also happens when this process is SIGKILLed.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

const GUARD = [
  'exec 3<&0',
  '"$@" </dev/null & child=$!',
  'echo "$child" > "$PID_FILE"',
  // When the parent's pipe closes: TERM, then KILL after a grace period.
  '( while read -r -u 3 _; do :; done; kill -TERM "$child" 2>/dev/null; sleep "$GRACE_SECONDS"; kill -KILL "$child" 2>/dev/null ) &',
  'watcher=$!',
  'wait "$child"; status=$?',
  'kill "$watcher" 2>/dev/null',
  'exit "$status"',
].join('\n');

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  graceSeconds?: number;
}

export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  #child: ChildProcess;
  #exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  constructor(options: ManagedProcessOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    const log = openSync(options.logFile, 'a');
    try {
      this.#child = spawn('bash', ['-c', GUARD, options.name, options.command, ...options.args], {
        cwd: options.cwd,
        env: {
          ...(options.env ?? process.env),
          GRACE_SECONDS: String(options.graceSeconds ?? 10),
          PID_FILE: `${options.logFile}.pid`,
        },
        stdio: ['pipe', log, log],
      });
    } finally {
      closeSync(log);
    }
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exitCode = code ?? (signal ? -1 : null);
        resolve(this.#exitCode);
      });
      this.#child.once('error', () => {
        this.#exitCode = -1;
        resolve(-1);
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** True once the process has exited, for whatever reason. */
  get exited(): boolean {
    return this.#exitCode !== undefined;
  }

  get exitCode(): number | null | undefined {
    return this.#exitCode;
  }

  waitForExit(): Promise<number | null> {
    return this.#exited;
  }

  /** Graceful stop: closing the guard's stdin makes it TERM the child, then KILL after the grace period. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.#child.stdin?.end();
    await this.#exited;
  }

  /** Immediate SIGKILL of the real process, as a crash would be. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const pid = this.#childPid();
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    } else {
      this.#child.stdin?.end();
    }
    await this.#exited;
  }

  #childPid(): number | undefined {
    const file = `${this.logFile}.pid`;
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  logTail(lines = 30): string {
    return tailOfFile(this.logFile, lines);
  }
}

export function tailOfFile(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no log file)';
  const text = readFileSync(file, 'utf8').trimEnd();
  return text === '' ? '(log is empty)' : text.split('\n').slice(-lines).join('\n');
}

/** Whether a process with this pid exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error instanceof Error && (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
