// Builds the operator image from the committed Dockerfile with buildah (no daemon, no registry needed),
// once per input digest: an unchanged Dockerfile, lockfile, tsconfig and src/ reuse the image in the store.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../../test/harness/crds.ts';
import { ensureTools } from './command.ts';
import { baseRepository, ensureNodeBaseImage, pinnedNodeVersion } from './base.ts';
import { buildah, buildahOutput, imageCacheDir, imageExists, imageRepository } from './store.ts';

export interface BuiltImage {
  /** localhost/apicred-operator:<digest>, immutable for its inputs. */
  name: string;
  /** The NODE_IMAGE it was built on. */
  base: string;
  /** False when the store already held it. */
  built: boolean;
  logFile: string;
}

// The build context as .dockerignore lets it through; tests do not go into the image.
const contextFiles = [
  'Dockerfile',
  '.dockerignore',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'scripts/build.ts',
  'scripts/ascii-bundle.ts',
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.test.ts'))
    .map((entry) => relative(repoRoot, join(entry.parentPath, entry.name)))
    .sort();
}

function inputDigest(base: string): string {
  const hash = createHash('sha256').update(base);
  for (const file of [...contextFiles, ...sourceFiles(join(repoRoot, 'src'))]) {
    hash.update(`\0${file}\0`).update(readFileSync(join(repoRoot, file)));
  }
  // How this file invokes buildah is an input too (the base image's recipe is in its name).
  hash.update(readFileSync(fileURLToPath(import.meta.url)));
  return hash.digest('hex').slice(0, 16);
}

/** The Dockerfile's default NODE_IMAGE must carry the Node version the tests run on. */
function checkDockerfileNodeVersion(): void {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const found = /^ARG NODE_IMAGE=\S+:(\d+\.\d+\.\d+)-/m.exec(dockerfile)?.[1];
  const pinned = pinnedNodeVersion();
  if (found !== pinned) {
    throw new Error(
      `Dockerfile: ARG NODE_IMAGE names node ${String(found)} but package.json pins node ${pinned}; make them equal`,
    );
  }
}

/** The CA bundle node trusts here, for npm inside the build (a TLS-intercepting proxy signs the registry). */
function caSecret(): string[] {
  const bundle = process.env.NODE_EXTRA_CA_CERTS;
  return bundle && existsSync(bundle) ? ['--secret', `id=npm_ca,src=${bundle}`] : [];
}

/** Older builds of the operator and base images: only the newest are kept, as vfs stores each in full. */
function staleImages(keep: readonly string[]): string[] {
  const listing = buildahOutput(['images', '--format', '{{.Name}}:{{.Tag}}']) ?? '';
  return listing
    .split('\n')
    .filter(
      (line) =>
        (line.startsWith(`${imageRepository}:`) || line.startsWith(`${baseRepository}:`)) &&
        !keep.includes(line) &&
        line !== `${imageRepository}:dev`,
    );
}

export async function ensureImageBuilt(): Promise<BuiltImage> {
  mkdirSync(imageCacheDir, { recursive: true });
  const logFile = join(imageCacheDir, 'build.log');
  writeFileSync(logFile, `image build ${new Date().toISOString()}\n`);
  await ensureTools(['buildah', 'debootstrap'], logFile);
  checkDockerfileNodeVersion();
  const base = await ensureNodeBaseImage(logFile);
  const name = `${imageRepository}:${inputDigest(base)}`;
  if (imageExists(name)) return { name, base, built: false, logFile };

  process.stderr.write(`[image] building ${name} (log: ${logFile})\n`);
  await buildah(
    [
      'bud',
      '--isolation',
      'chroot',
      '--network',
      'host',
      '--pull-never',
      '--build-arg',
      `NODE_IMAGE=${base}`,
      ...caSecret(),
      '--file',
      join(repoRoot, 'Dockerfile'),
      '--tag',
      name,
      '--tag',
      `${imageRepository}:dev`,
      repoRoot,
    ],
    logFile,
  );
  for (const stale of staleImages([name, base]))
    await buildah(['rmi', stale], logFile).catch(() => undefined);
  return { name, base, built: true, logFile };
}
