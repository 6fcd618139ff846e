// vitest globalSetup for the integration and e2e tiers: one real control plane for the whole run,
// shared by both projects (their setups run in the same main process), torn down after the last one.
import type { TestProject } from 'vitest/node';
import { startControlPlane, type ControlPlane, type ControlPlaneInfo } from './controlplane.ts';
import { ensureHelmBuilt } from '../helm/build.ts';
import { crdFiles } from './crds.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}

interface Shared {
  plane: Promise<ControlPlane>;
  users: number;
}

const KEY = Symbol.for('apicred-operator.test.control-plane');
type SharedGlobal = typeof globalThis & { [KEY]?: Shared | undefined };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The harness grants the operator the Helm chart's RBAC, rendered by Helm (a no-op once built).
  await ensureHelmBuilt();
  const store = globalThis as SharedGlobal;
  const shared = (store[KEY] ??= { users: 0, plane: startControlPlane({ crdFiles: crdFiles() }) });
  shared.users += 1;
  const plane = await shared.plane;
  const { server, caFile, adminToken, adminKubeconfig, dir, etcdUrl } = plane;
  project.provide('controlPlane', { server, caFile, adminToken, adminKubeconfig, dir, etcdUrl });
  process.stderr.write(
    `[harness] control plane for ${project.name}: ${server} (kubeconfig ${adminKubeconfig})\n`,
  );
  return async () => {
    shared.users -= 1;
    if (shared.users === 0) {
      store[KEY] = undefined;
      await plane.stop();
    }
  };
}
