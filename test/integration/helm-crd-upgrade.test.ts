// `helm upgrade` from the chart layout that shipped the CRD in crds/ (commit c8a54a4: Helm installs it
// once and never upgrades it) to the templated CRD, on a control plane of its own: the shared one
// already holds the current CRD, and this test needs the old one installed by the old chart.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startControlPlane, type ControlPlane } from '../harness/controlplane.ts';
import { repoRoot } from '../harness/crds.ts';
import { chartDir, helm, renderChart, type HelmResult } from '../helm/chart.ts';

const PREVIOUS_CHART_COMMIT = 'c8a54a4';
const CRD = 'apicredentials.apicred.dev';
const release = 'apicred';
const releaseNamespace = 'apicred-system';
const team = 'team-upgrade';

interface Crd {
  metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

let plane: ControlPlane | undefined;
let previousChart = '';

function cluster(): ControlPlane {
  if (!plane) throw new Error('the control plane of this test did not start');
  return plane;
}

function credential(name: string): string {
  return JSON.stringify({
    apiVersion: 'apicred.dev/v1alpha1',
    kind: 'ApiCredential',
    metadata: { name, namespace: team },
    spec: {
      provider: {
        idmp: {
          baseUrl: 'http://idmp.example.com:6042',
          credentialsRef: { name: 'idmp-login' },
          loginField: 'loginName',
        },
      },
    },
  });
}

async function loginField(name: string): Promise<unknown> {
  const object = JSON.parse(
    await kubectl(cluster(), ['get', 'apicredential', name, `--namespace=${team}`, '--output=json']),
  ) as { spec: { provider: { idmp: Record<string, unknown> } } };
  return object.spec.provider.idmp.loginField;
}

async function liveCrd(): Promise<Crd | undefined> {
  const out = await kubectl(cluster(), ['get', 'crd', CRD, '--ignore-not-found', '--output=json']);
  return out.trim() ? (JSON.parse(out) as Crd) : undefined;
}

function asAdmin(args: string[]): Promise<HelmResult> {
  return helm(args, { kubeconfig: cluster().adminKubeconfig });
}

beforeAll(async () => {
  plane = await startControlPlane({ controllerManager: false });
  previousChart = join(cluster().dir, 'previous-chart');
  mkdirSync(previousChart, { recursive: true });
  const archive = execFileSync('git', ['archive', PREVIOUS_CHART_COMMIT, 'deploy/apicred-operator'], {
    cwd: repoRoot,
    maxBuffer: 16 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', previousChart], { input: archive });
  previousChart = join(previousChart, 'deploy', 'apicred-operator');
});

afterAll(async () => {
  await plane?.stop();
});

describe('helm upgrade from the chart with crds/ to the templated CRD', () => {
  it('prunes a new field under the previous chart, then keeps it after the upgrade', async () => {
    const install = await asAdmin([
      'install',
      release,
      previousChart,
      `--namespace=${releaseNamespace}`,
      '--create-namespace',
    ]);
    expect(install.code, install.stderr).toBe(0);
    await kubectl(cluster(), ['create', 'namespace', team]);
    // The previous CRD has no loginField: the apiserver drops it (kubectl's own check is off here).
    await kubectl(cluster(), ['apply', '--validate=false', '-f', '-'], { input: credential('before') });
    expect(await loginField('before')).toBeUndefined();

    // Helm created that CRD from crds/ without its ownership metadata, so a plain upgrade refuses it.
    const refused = await asAdmin(['upgrade', release, chartDir, `--namespace=${releaseNamespace}`]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`CustomResourceDefinition "${CRD}"`);
    expect(refused.stderr).toContain('exists and cannot be imported into the current release');

    // The one-time adoption the README documents.
    const adopted = await asAdmin([
      'upgrade',
      release,
      chartDir,
      `--namespace=${releaseNamespace}`,
      '--take-ownership',
    ]);
    expect(adopted.code, adopted.stderr).toBe(0);
    const crd = await liveCrd();
    const rendered = (await renderChart({ release, namespace: releaseNamespace })).find(
      (object) => object.kind === 'CustomResourceDefinition',
    ) as unknown as Crd;
    expect(crd?.spec).toMatchObject(rendered.spec);
    expect(crd?.metadata.annotations).toMatchObject({
      'meta.helm.sh/release-name': release,
      'meta.helm.sh/release-namespace': releaseNamespace,
      'helm.sh/resource-policy': 'keep',
    });
    expect(crd?.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');

    await kubectl(cluster(), ['apply', '--validate=strict', '-f', '-'], { input: credential('before') });
    expect(await loginField('before')).toBe('loginName');
    await kubectl(cluster(), ['apply', '--validate=strict', '-f', '-'], { input: credential('after') });
    expect(await loginField('after')).toBe('loginName');

    // From now on the release owns the CRD: later upgrades need no flag.
    const again = await asAdmin(['upgrade', release, chartDir, `--namespace=${releaseNamespace}`]);
    expect(again.code, again.stderr).toBe(0);
    expect(await loginField('after')).toBe('loginName');
  });

  it('leaves the CRD and every ApiCredential after helm uninstall (crds.keep)', async () => {
    const uninstall = await asAdmin(['uninstall', release, `--namespace=${releaseNamespace}`]);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(uninstall.stdout + uninstall.stderr).toContain(CRD);
    expect(await liveCrd()).toBeDefined();
    expect(await loginField('after')).toBe('loginName');
  });

  it('installs into a cluster that already has the CRD when crds.enabled=false', async () => {
    const install = await asAdmin([
      'install',
      'apicred-nocrd',
      chartDir,
      `--namespace=${releaseNamespace}`,
      '--set=crds.enabled=false',
    ]);
    expect(install.code, install.stderr).toBe(0);
    const manifest = await asAdmin(['get', 'manifest', 'apicred-nocrd', `--namespace=${releaseNamespace}`]);
    expect(manifest.stdout).not.toContain('CustomResourceDefinition');
    const uninstall = await asAdmin(['uninstall', 'apicred-nocrd', `--namespace=${releaseNamespace}`]);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(await liveCrd()).toBeDefined();
  });

  it('upgrades without a flag after the README kubectl label/annotate adoption', async () => {
    await kubectl(cluster(), ['delete', 'crd', CRD]);
    const legacy = 'legacy';
    const install = await asAdmin(['install', legacy, previousChart, `--namespace=${releaseNamespace}`]);
    expect(install.code, install.stderr).toBe(0);
    expect((await liveCrd())?.metadata.annotations).toBeUndefined();
    await kubectl(cluster(), ['label', 'crd', CRD, 'app.kubernetes.io/managed-by=Helm']);
    await kubectl(cluster(), [
      'annotate',
      'crd',
      CRD,
      `meta.helm.sh/release-name=${legacy}`,
      `meta.helm.sh/release-namespace=${releaseNamespace}`,
    ]);
    const upgrade = await asAdmin(['upgrade', legacy, chartDir, `--namespace=${releaseNamespace}`]);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    await kubectl(cluster(), ['apply', '--validate=strict', '-f', '-'], { input: credential('adopted') });
    expect(await loginField('adopted')).toBe('loginName');
  });
});
