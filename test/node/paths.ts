import { join } from 'node:path';
import { cacheRoot } from '../go-tools/cache.ts';

/** Where `npm run node:build` puts the node's binaries and images. */
export const nodeCacheDir = join(cacheRoot, 'node');
export const kubeNodeBinDir = join(nodeCacheDir, 'kube', 'bin');
export const containerdBinDir = join(nodeCacheDir, 'containerd', 'bin');
export const cniBinDir = join(nodeCacheDir, 'cni', 'bin');
export const imagesDir = join(nodeCacheDir, 'images');

/** Images built from a static C program each; they exist only as OCI tars, imported at start. */
export const nodeImages = {
  /** The sandbox image containerd is pinned to. */
  pause: { ref: 'apicred.local/pause:1', program: 'pause' },
  /** Prints a file's content with a timestamp each time it changes. */
  fileReader: { ref: 'apicred.local/file-reader:1', program: 'file-reader' },
} as const;

export const imageTar = (program: string): string => join(imagesDir, `${program}.tar`);
/** Records what a running node changed on the host, so the next start can undo a killed run. */
export const hostStateMarker = join(nodeCacheDir, 'host-state.json');

export const kubeNodeBinary = (name: 'kubelet' | 'kube-scheduler'): string => join(kubeNodeBinDir, name);
export const containerdBinary = (name: 'containerd' | 'ctr' | 'containerd-shim-runc-v2'): string =>
  join(containerdBinDir, name);
