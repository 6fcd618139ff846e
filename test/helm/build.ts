// Builds Helm 4 from its Go module (test/helm/go.mod) into the cache, once, like the control plane.
// Run as `npm run helm:build`; `npm test` calls it too.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureGoToolsBuilt, requiredVersion, runBuildCommand, type GoToolSet } from '../go-tools/build.ts';
import { cacheRoot } from '../go-tools/cache.ts';

const moduleDir = dirname(fileURLToPath(import.meta.url));
export const helmBinDir = join(cacheRoot, 'helm', 'bin');
export const helmBinary = join(helmBinDir, 'helm');

/** The Helm version test/helm/go.mod pins, e.g. "v4.3.1". */
export function helmVersion(): string {
  return requiredVersion(moduleDir, 'helm.sh/helm/v4');
}

function helmToolSet(): GoToolSet {
  const version = helmVersion();
  const pkg = 'helm.sh/helm/v4/internal/version';
  return {
    name: 'helm',
    moduleDir,
    binDir: helmBinDir,
    coldBuildHint: 'a cold build takes a few minutes on 2 cores',
    tools: [
      {
        output: 'helm',
        pkg: 'helm.sh/helm/v4/cmd/helm',
        // What Helm's own Makefile stamps for a release build.
        ldflags: `-X ${pkg}.version=${version} -X ${pkg}.metadata= -X ${pkg}.gitTreeState=clean`,
      },
    ],
  };
}

/** Builds Helm when the binary is missing or stale; returns its path. */
export async function ensureHelmBuilt(): Promise<string> {
  await ensureGoToolsBuilt(helmToolSet());
  return helmBinary;
}

if (import.meta.main) await runBuildCommand('helm', () => ensureGoToolsBuilt(helmToolSet()));
