// The demo's setup (scripts/prerequisites.ts) on a machine whose cache has no Helm and no Keycloak: CI
// machines may already hold both, so running `.ci/run` there proves nothing about a fresh one. The
// control plane's binaries and Go's build and module caches are reused from the real cache root
// (linked, so a rebuild here could only replace the links, never the real files); Helm is built and
// Keycloak downloaded and prepared into a temporary cache root, and then both must work from there.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheRoot as realCacheRoot } from '../go-tools/cache.ts';
import { repoRoot } from '../harness/crds.ts';
import { controlPlaneBinaries } from '../controlplane/paths.ts';
import { helmVersion } from '../helm/build.ts';
import { KEYCLOAK_VERSION } from '../keycloak/keycloak.ts';

const run = promisify(execFile);
const freshRoot = mkdtempSync(join(tmpdir(), 'apicred-fresh-cache-'));
const env = { ...process.env, APICRED_CACHE_DIR: freshRoot };

function reuseControlPlaneAndGoCaches(): void {
  const realBin = join(realCacheRoot, 'controlplane', 'bin');
  const freshBin = join(freshRoot, 'controlplane', 'bin');
  mkdirSync(freshBin, { recursive: true });
  for (const binary of controlPlaneBinaries) symlinkSync(join(realBin, binary), join(freshBin, binary));
  copyFileSync(join(realBin, '.stamp'), join(freshBin, '.stamp'));
  for (const goCache of ['go-build', 'go-mod'])
    symlinkSync(join(realCacheRoot, goCache), join(freshRoot, goCache));
}

afterAll(() => {
  // Go's module cache is read-only on disk; the links to the real caches are removed, not followed.
  rmSync(freshRoot, { recursive: true, force: true });
});

describe('the demo setup on an empty cache', () => {
  it('builds Helm and installs Keycloak into APICRED_CACHE_DIR, and both work from there', async () => {
    reuseControlPlaneAndGoCaches();
    expect(readdirSync(freshRoot).sort()).toEqual(['controlplane', 'go-build', 'go-mod']);

    const setup = await run(process.execPath, [join(repoRoot, 'scripts', 'prerequisites.ts')], {
      cwd: repoRoot,
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
    const installed = JSON.parse(setup.stdout) as {
      controlPlaneBinDir: string;
      helmBinary: string;
      keycloak: { home: string; version: string };
    };
    expect(installed.controlPlaneBinDir).toBe(join(freshRoot, 'controlplane', 'bin'));
    expect(installed.helmBinary).toBe(join(freshRoot, 'helm', 'bin', 'helm'));
    expect(installed.keycloak.home).toBe(join(freshRoot, 'keycloak', KEYCLOAK_VERSION, 'home'));
    // Built and installed here, not found elsewhere.
    expect(setup.stderr).toMatch(/\[helm\] building helm into /);
    expect(setup.stderr).toMatch(/\[keycloak\] Keycloak \S+ ready in \d+ s/);

    const helm = await run(installed.helmBinary, ['version', '--short'], { env });
    expect(helm.stdout.trim()).toMatch(new RegExp(`^${helmVersion().replaceAll('.', '\\.')}\\b`));
    const rendered = await run(
      installed.helmBinary,
      ['template', 'x', join(repoRoot, 'deploy', 'apicred-operator')],
      {
        env,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    expect(rendered.stdout).toContain('kind: ClusterRole');

    const token = await run(
      process.execPath,
      [join(repoRoot, 'test', 'e2e', 'fresh-cache', 'keycloak-token.ts')],
      {
        cwd: repoRoot,
        env,
      },
    );
    expect(JSON.parse(token.stdout)).toEqual({
      home: installed.keycloak.home,
      version: KEYCLOAK_VERSION,
      status: 200,
      tokenType: 'Bearer',
      hasAccessToken: true,
    });
    expect(existsSync(join(realCacheRoot, 'helm', 'bin', 'helm'))).toBe(true);
  }, 1_500_000);
});
