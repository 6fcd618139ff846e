import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Stable, git-ignored home for the Go-built control plane and its Go caches. It lives outside the
 * checkout so that a fresh clone on the same machine (CI) reuses a warm build.
 */
export const cacheRoot = process.env.APICRED_CACHE_DIR ?? join(homedir(), '.cache', 'apicred-operator');
export const controlPlaneBinDir = join(cacheRoot, 'controlplane', 'bin');
export const goBuildCache = join(cacheRoot, 'go-build');
export const goModCache = join(cacheRoot, 'go-mod');

export const controlPlaneBinaries = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;
export type ControlPlaneBinary = (typeof controlPlaneBinaries)[number];

export function binaryPath(name: ControlPlaneBinary): string {
  return join(controlPlaneBinDir, name);
}
