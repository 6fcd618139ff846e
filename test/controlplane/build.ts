// Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go module proxy, once.
// Run as `npm run controlplane:build`; `npm test`, `npm run cluster` and the demo call it too.
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
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlPlaneBinDir, controlPlaneBinaries, goBuildCache, goModCache } from './paths.ts';

const moduleDir = dirname(fileURLToPath(import.meta.url));
const stampFile = join(controlPlaneBinDir, '.stamp');

interface BuildTarget {
  output: string;
  pkg: string;
  stampKubeVersion: boolean;
}

const targets: BuildTarget[] = [
  { output: 'kube-apiserver', pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', stampKubeVersion: true },
  {
    output: 'kube-controller-manager',
    pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager',
    stampKubeVersion: true,
  },
  { output: 'kubectl', pkg: 'k8s.io/kubernetes/cmd/kubectl', stampKubeVersion: true },
  // etcd's main package would be named "server"; -o names it.
  { output: 'etcd', pkg: 'go.etcd.io/etcd/server/v3', stampKubeVersion: false },
];

function log(message: string): void {
  process.stderr.write(`[controlplane] ${message}\n`);
}

function goVersion(): string {
  try {
    return execFileSync('go', ['version'], { encoding: 'utf8', env: goEnv() }).trim();
  } catch {
    throw new Error(
      'Go is not installed or not on PATH. The local Kubernetes control plane is built from source with Go >= 1.26 ' +
        '(https://go.dev/doc/install, or your distribution package). Install it and run `npm run controlplane:build` again.',
    );
  }
}

function kubernetesVersion(): string {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const match = /^\s*k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+)\b/m.exec(goMod);
  if (!match?.[1]) throw new Error('test/controlplane/go.mod does not require k8s.io/kubernetes vX.Y.Z');
  return match[1];
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

/** What the binaries are built from; any change to it means a rebuild. */
function buildStamp(version: string): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'build.ts']) hash.update(readFileSync(join(moduleDir, file)));
  hash.update(version);
  return hash.digest('hex');
}

function versionLdflags(kubeVersion: string): string {
  const [major, minor] = kubeVersion.slice(1).split('.');
  const flags: string[] = [];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    flags.push(
      `-X ${pkg}.gitVersion=${kubeVersion}`,
      `-X ${pkg}.gitMajor=${major ?? ''}`,
      `-X ${pkg}.gitMinor=${minor ?? ''}`,
      `-X ${pkg}.gitTreeState=clean`,
    );
  }
  return flags.join(' ');
}

function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

async function goBuild(target: BuildTarget, ldflags: string, logFile: string): Promise<void> {
  const out = join(controlPlaneBinDir, `${target.output}.partial`);
  const args = [
    'build',
    '-v',
    '-p',
    '2',
    '-ldflags',
    `-s -w ${target.stampKubeVersion ? ldflags : ''}`.trim(),
    '-o',
    out,
    target.pkg,
  ];
  const logStream = createWriteStream(logFile, { flags: 'a' });
  logStream.write(`\n$ go ${args.join(' ')}\n`);
  const started = Date.now();
  let compiled = 0;
  const child = spawn('go', args, { cwd: moduleDir, env: goEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const progress = setInterval(() => {
    log(`  ${target.output}: ${compiled} packages compiled, ${Math.round((Date.now() - started) / 1000)} s`);
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
      `go build of ${target.pkg} failed (exit ${String(code)}). Last lines of ${logFile}:\n${tail(logFile)}`,
    );
  }
  renameSync(out, join(controlPlaneBinDir, target.output));
  log(`  ${target.output}: built in ${Math.round((Date.now() - started) / 1000)} s`);
}

export interface BuildResult {
  built: boolean;
  seconds: number;
  binDir: string;
}

/** Builds the control plane when the binaries are missing or stale; otherwise returns at once. */
export async function ensureControlPlaneBuilt(): Promise<BuildResult> {
  const started = Date.now();
  const version = goVersion();
  const stamp = buildStamp(version);
  const upToDate =
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8').trim() === stamp &&
    controlPlaneBinaries.every((name) => existsSync(join(controlPlaneBinDir, name)));
  if (upToDate) return { built: false, seconds: 0, binDir: controlPlaneBinDir };

  const kubeVersion = kubernetesVersion();
  mkdirSync(controlPlaneBinDir, { recursive: true });
  rmSync(stampFile, { force: true });
  const logFile = join(controlPlaneBinDir, 'build.log');
  writeFileSync(logFile, `${version}\n`);
  log(`building Kubernetes ${kubeVersion} control plane into ${controlPlaneBinDir}`);
  log(
    `(${version}; a cold build takes tens of minutes on 2 cores, later builds reuse ${goBuildCache}; log: ${logFile})`,
  );
  const ldflags = versionLdflags(kubeVersion);
  for (const target of targets) await goBuild(target, ldflags, logFile);
  writeFileSync(stampFile, `${stamp}\n`);
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`control plane ready in ${seconds} s`);
  return { built: true, seconds, binDir: controlPlaneBinDir };
}

if (import.meta.main) {
  try {
    const result = await ensureControlPlaneBuilt();
    log(result.built ? `built in ${result.seconds} s` : `up to date in ${result.binDir}`);
  } catch (error) {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
