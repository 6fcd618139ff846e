import { join } from 'node:path';
import { cacheRoot } from '../go-tools/cache.ts';

/** Where `npm run node:build` puts the node's binaries and images. */
export const nodeCacheDir = join(cacheRoot, 'node');
export const kubeNodeBinDir = join(nodeCacheDir, 'kube', 'bin');
export const containerdBinDir = join(nodeCacheDir, 'containerd', 'bin');
export const cniBinDir = join(nodeCacheDir, 'cni', 'bin');
export const pauseDir = join(nodeCacheDir, 'pause');
export const pauseImageTar = join(pauseDir, 'pause-image.tar');
/** The sandbox image containerd is pinned to; it exists only as the tar above, imported at start. */
export const pauseImageRef = 'apicred.local/pause:1';
/** Records what a running node changed on the host, so the next start can undo a killed run. */
export const hostStateMarker = join(nodeCacheDir, 'host-state.json');

export const kubeNodeBinary = (name: 'kubelet' | 'kube-scheduler'): string => join(kubeNodeBinDir, name);
export const containerdBinary = (name: 'containerd' | 'ctr' | 'containerd-shim-runc-v2'): string =>
  join(containerdBinDir, name);
