// Builds command-line tools from a Go module with `tool` directives (test/controlplane, test/helm) into
// the cache, once: a stamp of go.mod, go.sum, the Go version and the build recipe decides a rebuild.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { goBuildCache, goModCache } from './cache.ts';

export interface GoTool {
  /** File name of the binary in binDir. */
  output: string;
  /** Package path of the main package, one of the module's `tool` directives. */
  pkg: string;
  /** Extra -ldflags, such as -X version stamps. */
  ldflags?: string;
}

export interface GoToolSet {
  /** Short name for log lines and the npm script, such as "controlplane". */
  name: string;
  /** Directory holding go.mod and go.sum. */
  moduleDir: string;
  binDir: string;
  tools: GoTool[];
  /** How long a cold build takes, for the first log line. */
  coldBuildHint: string;
}

export interface BuildResult {
  built: boolean;
  seconds: number;
  binDir: string;
}

const ownSource = fileURLToPath(import.meta.url);

function logger(name: string): (message: string) => void {
  return (message) => process.stderr.write(`[${name}] ${message}\n`);
}

function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CGO_ENABLED: '0',
    GOTOOLCHAIN: 'local',
    GOFLAGS: '-trimpath -modcacherw -mod=readonly',
    GOCACHE: goBuildCache,
    GOMODCACHE: goModCache,
  };
}

function goVersion(set: GoToolSet): string {
  try {
    return execFileSync('go', ['version'], { encoding: 'utf8', env: goEnv() }).trim();
  } catch {
    throw new Error(
      `Go is not installed or not on PATH. The ${set.name} tools are built from source with Go >= 1.26 ` +
        `(https://go.dev/doc/install, or your distribution package). Install it and run \`npm run ${set.name}:build\` again.`,
    );
  }
}

/** The version a module's go.mod requires, e.g. requiredVersion(dir, 'helm.sh/helm/v4') → "v4.3.1". */
export function requiredVersion(moduleDir: string, modulePath: string): string {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const escaped = modulePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^\\s*${escaped}\\s+(v\\d+\\.\\d+\\.\\d+)\\b`, 'm').exec(goMod);
  if (!match?.[1]) throw new Error(`${join(moduleDir, 'go.mod')} does not require ${modulePath} vX.Y.Z`);
  return match[1];
}

/** What the binaries are built from; any change to it means a rebuild. */
function buildStamp(set: GoToolSet, version: string): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(readFileSync(join(set.moduleDir, file)));
  hash.update(readFileSync(ownSource));
  hash.update(JSON.stringify(set.tools));
  hash.update(version);
  return hash.digest('hex');
}

function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

async function goBuild(set: GoToolSet, tool: GoTool, logFile: string): Promise<void> {
  const log = logger(set.name);
  const out = join(set.binDir, `${tool.output}.partial`);
  const args = [
    'build',
    '-v',
    '-p',
    '2',
    '-ldflags',
    `-s -w ${tool.ldflags ?? ''}`.trim(),
    '-o',
    out,
    tool.pkg,
  ];
  const logStream = createWriteStream(logFile, { flags: 'a' });
  logStream.write(`\n$ go ${args.join(' ')}\n`);
  const started = Date.now();
  let compiled = 0;
  const child = spawn('go', args, { cwd: set.moduleDir, env: goEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const progress = setInterval(() => {
    log(`  ${tool.output}: ${compiled} packages compiled, ${Math.round((Date.now() - started) / 1000)} s`);
  }, 30_000);
  const onData = (chunk: Buffer): void => {
    logStream.write(chunk);
    compiled += chunk
      .toString('utf8')
      .split('\n')
      .filter((line) => /^[\w.-]+(\/[\w.@-]+)+$/.test(line)).length;
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  clearInterval(progress);
  await new Promise<void>((resolve) => logStream.end(resolve));
  if (code !== 0) {
    throw new Error(
      `go build of ${tool.pkg} failed (exit ${String(code)}). Last lines of ${logFile}:\n${tail(logFile)}`,
    );
  }
  renameSync(out, join(set.binDir, tool.output));
  log(`  ${tool.output}: built in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Builds the tools when a binary is missing or stale; otherwise returns at once. */
export async function ensureGoToolsBuilt(set: GoToolSet): Promise<BuildResult> {
  const log = logger(set.name);
  const started = Date.now();
  const version = goVersion(set);
  const stamp = buildStamp(set, version);
  const stampFile = join(set.binDir, '.stamp');
  const upToDate =
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8').trim() === stamp &&
    set.tools.every((tool) => existsSync(join(set.binDir, tool.output)));
  if (upToDate) return { built: false, seconds: 0, binDir: set.binDir };

  mkdirSync(set.binDir, { recursive: true });
  rmSync(stampFile, { force: true });
  const logFile = join(set.binDir, 'build.log');
  writeFileSync(logFile, `${version}\n`);
  log(`building ${set.tools.map((tool) => tool.output).join(', ')} into ${set.binDir}`);
  log(`(${version}; ${set.coldBuildHint}, later builds reuse ${goBuildCache}; log: ${logFile})`);
  for (const tool of set.tools) await goBuild(set, tool, logFile);
  writeFileSync(stampFile, `${stamp}\n`);
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`ready in ${seconds} s`);
  return { built: true, seconds, binDir: set.binDir };
}

/** The body of a `npm run <name>:build` script. */
export async function runBuildCommand(name: string, ensure: () => Promise<BuildResult>): Promise<void> {
  const log = logger(name);
  try {
    const result = await ensure();
    log(result.built ? `built in ${result.seconds} s` : `up to date in ${result.binDir}`);
  } catch (error) {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
