// Builds Prometheus's promtool from its Go module (test/promtool/go.mod) into the cache, once, like Helm
// and the control plane. The alert rule tests run `promtool test rules` with it.
// Run as `npm run promtool:build`; `npm test` calls it too.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureGoToolsBuilt, requiredVersion, runBuildCommand, type GoToolSet } from '../go-tools/build.ts';
import { cacheRoot } from '../go-tools/cache.ts';

const moduleDir = dirname(fileURLToPath(import.meta.url));
export const promtoolBinDir = join(cacheRoot, 'promtool', 'bin');
export const promtoolBinary = join(promtoolBinDir, 'promtool');

/** The Prometheus module version test/promtool/go.mod pins, e.g. "v0.316.0" (Prometheus 3.16.0). */
export function prometheusModuleVersion(): string {
  return requiredVersion(moduleDir, 'github.com/prometheus/prometheus');
}

function promtoolToolSet(): GoToolSet {
  const version = prometheusModuleVersion();
  // v0.3XX.Y on the module is the release 3.XX.Y.
  const release = version.replace(/^v0\.3(\d+)\.(\d+)$/, '3.$1.$2');
  const pkg = 'github.com/prometheus/common/version';
  return {
    name: 'promtool',
    moduleDir,
    binDir: promtoolBinDir,
    coldBuildHint: 'a cold build takes about 8 minutes on 2 cores',
    tools: [
      {
        output: 'promtool',
        pkg: 'github.com/prometheus/prometheus/cmd/promtool',
        // What Prometheus's promu stamps for a release build.
        ldflags: `-X ${pkg}.Version=${release} -X ${pkg}.Branch=HEAD -X ${pkg}.Revision=${version}`,
      },
    ],
  };
}

/** Builds promtool when the binary is missing or stale; returns its path. */
export async function ensurePromtoolBuilt(): Promise<string> {
  await ensureGoToolsBuilt(promtoolToolSet());
  return promtoolBinary;
}

if (import.meta.main) await runBuildCommand('promtool', () => ensureGoToolsBuilt(promtoolToolSet()));
