// Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go module proxy, once.
// Run as `npm run controlplane:build`; `npm test`, `npm run cluster` and the demo call it too.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureGoToolsBuilt, requiredVersion, runBuildCommand, type BuildResult } from '../go-tools/build.ts';
import { controlPlaneBinDir } from './paths.ts';

export type { BuildResult } from '../go-tools/build.ts';

const moduleDir = dirname(fileURLToPath(import.meta.url));

export function versionLdflags(kubeVersion: string): string {
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

/** Builds the control plane when the binaries are missing or stale; otherwise returns at once. */
export function ensureControlPlaneBuilt(): Promise<BuildResult> {
  const kube = versionLdflags(requiredVersion(moduleDir, 'k8s.io/kubernetes'));
  return ensureGoToolsBuilt({
    name: 'controlplane',
    moduleDir,
    binDir: controlPlaneBinDir,
    coldBuildHint: 'a cold build takes tens of minutes on 2 cores',
    tools: [
      { output: 'kube-apiserver', pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', ldflags: kube },
      {
        output: 'kube-controller-manager',
        pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager',
        ldflags: kube,
      },
      { output: 'kubectl', pkg: 'k8s.io/kubernetes/cmd/kubectl', ldflags: kube },
      // etcd's main package would be named "server"; -o names it.
      { output: 'etcd', pkg: 'go.etcd.io/etcd/server/v3' },
    ],
  });
}

if (import.meta.main) await runBuildCommand('controlplane', ensureControlPlaneBuilt);
