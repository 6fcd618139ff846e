// Runs the external tools the image needs (apt-get, debootstrap, npm, buildah, runc) with their output in
// a log file, and turns a failure into an error that carries the end of that log.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, openSync } from 'node:fs';
import { tailOfFile } from '../../test/harness/process.ts';

export interface RunOptions {
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function runLogged(command: string, args: string[], options: RunOptions): Promise<void> {
  appendFileSync(options.logFile, `\n[${new Date().toISOString()}] $ ${[command, ...args].join(' ')}\n`);
  const log = openSync(options.logFile, 'a');
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    const fail = (reason: string): void => {
      reject(
        new Error(
          `${command} ${args[0] ?? ''} ${reason}; last lines of ${options.logFile}:\n${tailOfFile(options.logFile, 60)}`,
        ),
      );
    };
    child.once('error', (error) => {
      fail(`could not start (${error.message})`);
    });
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else fail(`failed (${signal ?? `exit ${String(code)}`})`);
    });
  });
}

/** stdout of a short command, or undefined when it fails. */
export function output(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Installs the Debian packages of missing tools with apt-get (as root), or says exactly what to install.
 * The tool names are also their Debian package names (buildah, debootstrap, runc).
 */
export async function ensureTools(tools: readonly string[], logFile: string): Promise<void> {
  const missing = tools.filter((tool) => !onPath(tool));
  if (missing.length === 0) return;
  const install = ['install', '-y', ...missing];
  const advice = `install them (Debian/Ubuntu: \`apt-get ${install.join(' ')}\` as root) and run again`;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    throw new Error(`The container image tools are missing: ${missing.join(', ')}; ${advice}.`);
  }
  process.stderr.write(`[image] installing ${missing.join(', ')} with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await runLogged('apt-get', install, { logFile, env }).catch(async () => {
      // A fresh machine may have no package lists yet.
      await runLogged('apt-get', ['update'], { logFile, env });
      await runLogged('apt-get', install, { logFile, env });
    });
  } catch (error) {
    throw new Error(
      `Could not install ${missing.join(', ')} with apt-get; ${advice}.\n${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const still = missing.filter((tool) => !onPath(tool));
  if (still.length > 0)
    throw new Error(`apt-get ran but ${still.join(', ')} is still not on PATH; ${advice}.`);
}
