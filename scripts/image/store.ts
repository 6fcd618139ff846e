// Where images live: a buildah store of our own under the cache root (reused by every clone on the
// machine, removable as a whole), with vfs storage by default because it needs no kernel support and
// works in nested containers too. APICRED_IMAGE_STORAGE_DRIVER=overlay selects another store (it built
// in the same time here; it matters once images share layers).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheRoot } from '../../test/controlplane/paths.ts';
import { output, runLogged } from './command.ts';

export const imageCacheDir = join(cacheRoot, 'image');
export const imageRepository = 'localhost/apicred-operator';

const storageDriver = process.env.APICRED_IMAGE_STORAGE_DRIVER ?? 'vfs';

/** Global buildah flags that select our store; pass them to every buildah command. */
export const storeArgs: readonly string[] = [
  '--root',
  join(imageCacheDir, 'storage', storageDriver),
  // Lock and mount state, which must not survive a reboot.
  '--runroot',
  join(tmpdir(), `apicred-operator-buildah-${storageDriver}`),
  '--storage-driver',
  storageDriver,
];

export function buildah(args: string[], logFile: string): Promise<void> {
  return runLogged('buildah', [...storeArgs, ...args], { logFile });
}

export function buildahOutput(args: string[]): string | undefined {
  return output('buildah', [...storeArgs, ...args]);
}

export function imageExists(name: string): boolean {
  return buildahOutput(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', name]) !== undefined;
}
