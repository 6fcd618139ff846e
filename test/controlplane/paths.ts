import { join } from 'node:path';
import { cacheRoot } from '../go-tools/cache.ts';

export { cacheRoot } from '../go-tools/cache.ts';
export const controlPlaneBinDir = join(cacheRoot, 'controlplane', 'bin');

export const controlPlaneBinaries = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;
export type ControlPlaneBinary = (typeof controlPlaneBinaries)[number];

export function binaryPath(name: ControlPlaneBinary): string {
  return join(controlPlaneBinDir, name);
}
