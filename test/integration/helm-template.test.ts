// The chart as rendered by Helm 4: lint, both RBAC modes, every optional object, the security context,
// values the schema or the templates refuse, and CRDs equal to the generated ones.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { chartDir, helm, helmTemplate, renderChart, type KubeObject } from '../helm/chart.ts';
import { repoRoot } from '../harness/crds.ts';
import { admissionPolicySpec } from '../../src/api/admission-policy.ts';
import { loadConfig } from '../../src/config.ts';

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Container {
  args: string[];
  env: { name: string; valueFrom?: unknown }[];
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources?: unknown;
  image: string;
}

interface Deployment extends KubeObject {
  spec: {
    replicas: number;
    template: { spec: { securityContext: Record<string, unknown>; containers: Container[] } };
  };
}

/** Every string value under a key ending in `Url` (baseUrl, issuerUrl, tokenUrl). */
function providerUrls(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, field]) =>
    typeof field === 'string' && /Url$/.test(key) ? [field] : providerUrls(field),
  );
}

function kinds(objects: KubeObject[]): string[] {
  return objects
    .map((object) => `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`)
    .sort();
}

function find<T extends KubeObject = KubeObject>(objects: KubeObject[], kind: string): T[] {
  return objects.filter((object) => object.kind === kind) as T[];
}

function container(objects: KubeObject[]): Container {
  const [deployment] = find<Deployment>(objects, 'Deployment');
  const first = deployment?.spec.template.spec.containers[0];
  if (!first) throw new Error('no Deployment container rendered');
  return first;
}

function rules(role: KubeObject | undefined): PolicyRule[] {
  return (role as { rules?: PolicyRule[] } | undefined)?.rules ?? [];
}

function verbsFor(ruleList: PolicyRule[], group: string, resource: string): string[] {
  return ruleList
    .filter((rule) => rule.apiGroups?.includes(group) && rule.resources?.includes(resource))
    .flatMap((rule) => rule.verbs)
    .sort();
}

async function failure(values: Record<string, unknown>): Promise<string> {
  const result = await helmTemplate({ values });
  expect(result.code, `helm template unexpectedly succeeded with ${JSON.stringify(values)}`).not.toBe(0);
  return result.stderr;
}

describe('the Helm chart', () => {
  it('passes helm lint --strict', async () => {
    const result = await helm(['lint', '--strict', chartDir]);
    expect(result.stdout + result.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it('renders cluster-wide RBAC by default, with 2 replicas and a Lease role in the release namespace', async () => {
    const objects = await renderChart({ namespace: 'ops' });
    expect(kinds(objects)).toEqual([
      'ClusterRole//apicred-operator',
      'ClusterRole//apicred-operator-edit',
      'ClusterRole//apicred-operator-view',
      'ClusterRoleBinding//apicred-operator',
      'CustomResourceDefinition//apicredentials.apicred.dev',
      'Deployment/ops/apicred-operator',
      'PodDisruptionBudget/ops/apicred-operator',
      'Role/ops/apicred-operator-leader-election',
      'RoleBinding/ops/apicred-operator-leader-election',
      'Service/ops/apicred-operator-metrics',
      'ServiceAccount/ops/apicred-operator',
      'ValidatingAdmissionPolicy//apicred-operator-references',
      'ValidatingAdmissionPolicyBinding//apicred-operator-references',
    ]);
    const [deployment] = find<Deployment>(objects, 'Deployment');
    expect(deployment?.spec.replicas).toBe(2);
    const clusterRules = rules(
      find(objects, 'ClusterRole').find((role) => role.metadata.name === 'apicred-operator'),
    );
    expect(verbsFor(clusterRules, 'apicred.dev', 'apicredentials')).toEqual(['list', 'patch', 'watch']);
    expect(verbsFor(clusterRules, '', 'secrets')).toEqual([
      'create',
      'get',
      'list',
      'patch',
      'update',
      'watch',
    ]);
    expect(verbsFor(clusterRules, '', 'configmaps')).toEqual(['get', 'list', 'watch']);
    for (const workload of ['deployments', 'statefulsets', 'daemonsets']) {
      expect(verbsFor(clusterRules, 'apps', workload)).toEqual(['get', 'patch']);
    }
    expect(clusterRules.some((rule) => rule.verbs.includes('delete') || rule.verbs.includes('*'))).toBe(
      false,
    );
    expect(verbsFor(clusterRules, 'coordination.k8s.io', 'leases')).toEqual([]);
    const leaseRules = rules(find(objects, 'Role')[0]);
    expect(leaseRules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['apicred-operator'],
        verbs: ['get', 'update'],
      },
    ]);
    const binding = find(objects, 'ClusterRoleBinding')[0] as unknown as { subjects: unknown[] };
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'apicred-operator', namespace: 'ops' },
    ]);
  });

  it('renders Roles only in the watched namespaces in namespaced mode', async () => {
    const objects = await renderChart({
      namespace: 'ops',
      values: { rbac: { scope: 'namespaced' }, operator: { namespaces: ['team-a', 'team-b'] } },
    });
    expect(find(objects, 'ClusterRole').map((role) => role.metadata.name)).toEqual([
      'apicred-operator-view',
      'apicred-operator-edit',
    ]);
    expect(find(objects, 'ClusterRoleBinding')).toEqual([]);
    expect(kinds(objects).filter((kind) => /^Role(Binding)?\//.test(kind))).toEqual([
      'Role/ops/apicred-operator-leader-election',
      'Role/team-a/apicred-operator',
      'Role/team-b/apicred-operator',
      'RoleBinding/ops/apicred-operator-leader-election',
      'RoleBinding/team-a/apicred-operator',
      'RoleBinding/team-b/apicred-operator',
    ]);
    const teamRole = find(objects, 'Role').find((role) => role.metadata.namespace === 'team-a');
    const clusterRole = find(await renderChart(), 'ClusterRole').find(
      (role) => role.metadata.name === 'apicred-operator',
    );
    expect(rules(teamRole)).toEqual(rules(clusterRole));
    expect(container(objects).args).toContain('--namespaces=team-a,team-b');
  });

  it('grants create on serviceaccounts/token only with rbac.serviceAccountTokens, only where it watches', async () => {
    const operatorRole = (objects: KubeObject[]): KubeObject | undefined =>
      find(objects, 'ClusterRole').find((role) => role.metadata.name === 'apicred-operator');
    expect(verbsFor(rules(operatorRole(await renderChart())), '', 'serviceaccounts/token')).toEqual([]);
    const cluster = await renderChart({ values: { rbac: { serviceAccountTokens: true } } });
    expect(verbsFor(rules(operatorRole(cluster)), '', 'serviceaccounts/token')).toEqual(['create']);
    // No wider than that: not the ServiceAccounts themselves.
    expect(verbsFor(rules(operatorRole(cluster)), '', 'serviceaccounts')).toEqual([]);

    const namespaced = await renderChart({
      namespace: 'ops',
      values: {
        rbac: { scope: 'namespaced', serviceAccountTokens: true },
        operator: { namespaces: ['team-a', 'team-b'] },
      },
    });
    expect(operatorRole(namespaced)).toBeUndefined();
    const granting = find(namespaced, 'Role')
      .filter((role) => verbsFor(rules(role), '', 'serviceaccounts/token').includes('create'))
      .map((role) => `${role.metadata.namespace ?? ''}/${role.metadata.name}`);
    expect(granting).toEqual(['team-a/apicred-operator', 'team-b/apicred-operator']);
  });

  it('passes the values as the operator flags, the lease namespace from the downward API', async () => {
    const objects = await renderChart({
      release: 'shard-a',
      values: {
        operator: {
          namespaces: ['team-a'],
          labelSelector: 'shard=a',
          concurrency: 8,
          logLevel: 'debug',
          metricsPort: 9090,
          healthPort: 9091,
          allowedCidrs: ['10.0.0.0/8', 'fd00::/8'],
          leaderElection: { leaseName: 'shard-a-lease' },
        },
      },
    });
    const { args, env } = container(objects);
    expect(args).toEqual([
      '--namespaces=team-a',
      '--label-selector=shard=a',
      '--concurrency=8',
      '--log-level=debug',
      '--metrics-address=:9090',
      '--health-address=:9091',
      '--allowed-cidrs=10.0.0.0/8,fd00::/8',
      '--provider-qps=20',
      '--provider-burst=50',
      '--propagation-margin=2m',
      '--provider-timeout=30s',
      '--rollout-restart-min-interval=1m',
      '--leader-elect=true',
      '--lease-namespace=$(POD_NAMESPACE)',
      '--lease-name=shard-a-lease',
    ]);
    expect(env).toEqual([
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ]);
    const leaseRole = find(objects, 'Role')[0];
    expect(rules(leaseRole)[1]?.resourceNames).toEqual(['shard-a-lease']);
  });

  it('passes providerHostLimits as one --provider-host-limits flag the operator accepts', async () => {
    const objects = await renderChart({
      values: {
        operator: { providerHostLimits: { 'https://login.example.com': '5:10', 'http://idmp:6042': '50' } },
      },
    });
    const flags = container(objects).args.filter((arg) => arg.startsWith('--provider-host-limits='));
    expect(flags).toHaveLength(1);
    expect(loadConfig(flags, {}).providerHostLimits).toEqual([
      { host: 'http://idmp:6042', ratePerSecond: 50 },
      { host: 'https://login.example.com', ratePerSecond: 5, burst: 10 },
    ]);
    expect(container(await renderChart()).args.some((arg) => arg.startsWith('--provider-host-limits'))).toBe(
      false,
    );
  });

  it('runs under the restricted Pod Security profile with probes, resources and the appVersion image', async () => {
    const objects = await renderChart();
    const [deployment] = find<Deployment>(objects, 'Deployment');
    expect(deployment?.spec.template.spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const operator = container(objects);
    expect(operator.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(operator.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(operator.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(operator.resources).toBeDefined();
    const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    expect(operator.image).toBe(`ghcr.io/apicred/apicred-operator:${chart.appVersion}`);
    const pinned = container(
      await renderChart({ values: { image: { digest: `sha256:${'a'.repeat(64)}` } } }),
    );
    expect(pinned.image).toBe(`ghcr.io/apicred/apicred-operator@sha256:${'a'.repeat(64)}`);
  });

  it('aggregates ApiCredential access into the built-in view and edit roles unless turned off', async () => {
    const roles = find(await renderChart(), 'ClusterRole');
    const view = roles.find((role) => role.metadata.name === 'apicred-operator-view');
    const edit = roles.find((role) => role.metadata.name === 'apicred-operator-edit');
    expect(view?.metadata.labels).toMatchObject({
      'rbac.authorization.k8s.io/aggregate-to-view': 'true',
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
    });
    expect(edit?.metadata.labels).not.toHaveProperty(['rbac.authorization.k8s.io/aggregate-to-view']);
    expect(verbsFor(rules(view), 'apicred.dev', 'apicredentials')).toEqual(['get', 'list', 'watch']);
    expect(rules(edit).flatMap((rule) => rule.resources)).toEqual(['apicredentials']);
    const off = await renderChart({ values: { rbac: { aggregateToView: false, aggregateToEdit: false } } });
    expect(find(off, 'ClusterRole').map((role) => role.metadata.name)).toEqual(['apicred-operator']);
  });

  it('takes the security contexts from values, with the UID nulled for OpenShift restricted-v2', async () => {
    const openshift = await renderChart({
      values: {
        podSecurityContext: { runAsUser: null, runAsGroup: null, fsGroup: null },
        securityContext: { runAsUser: null, runAsGroup: null },
      },
    });
    const [deployment] = find<Deployment>(openshift, 'Deployment');
    expect(deployment?.spec.template.spec.securityContext).toEqual({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container(openshift).securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const pinned = await renderChart({
      values: { podSecurityContext: { runAsUser: 1000680000, fsGroup: 1000680000 } },
    });
    expect(find<Deployment>(pinned, 'Deployment')[0]?.spec.template.spec.securityContext).toMatchObject({
      runAsUser: 1000680000,
      runAsGroup: 65532,
      fsGroup: 1000680000,
    });
    expect(await failure({ podSecurityContext: { runAsUser: -1 } })).toContain(
      "at '/podSecurityContext/runAsUser'",
    );
    expect(await failure({ securityContext: { runAsGroup: 'nobody' } })).toContain(
      "at '/securityContext/runAsGroup'",
    );
  });

  it('renders each optional object only when enabled', async () => {
    const all = await renderChart({
      values: {
        metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } },
        networkPolicy: { enabled: true },
      },
    });
    for (const kind of ['ServiceMonitor', 'PrometheusRule', 'NetworkPolicy']) {
      expect(find(all, kind), kind).toHaveLength(1);
    }
    const none = await renderChart({
      values: {
        replicaCount: 1,
        crds: { enabled: false },
        serviceAccount: { create: false, name: 'existing' },
        rbac: { create: false },
        podDisruptionBudget: { enabled: false },
        metrics: { service: { enabled: false } },
        operator: { leaderElection: { enabled: false } },
        admissionPolicy: { enabled: false },
      },
    });
    expect(kinds(none)).toEqual(['Deployment/apicred-system/apicred-operator']);
    expect(container(none).args).toContain('--leader-elect=false');
    expect(container(none).args.some((arg) => arg.startsWith('--lease-'))).toBe(false);
  });

  it('alerts on the metrics the operator publishes', async () => {
    const objects = await renderChart({
      values: {
        metrics: {
          prometheusRule: {
            enabled: true,
            notReadyFor: '20m',
            expiringWithinSeconds: 300,
            consecutiveFailures: 5,
          },
        },
      },
    });
    const rule = find(objects, 'PrometheusRule')[0] as unknown as {
      spec: { groups: { rules: { alert: string; expr: string; for?: string }[] }[] };
    };
    const alerts = rule.spec.groups.flatMap((group) => group.rules);
    expect(alerts.map((alert) => [alert.alert, alert.expr, alert.for])).toEqual([
      [
        'ApiCredentialNotReady',
        'max by (namespace, name, provider) (last_over_time(apicred_credential_ready[5m])) == 0',
        '20m',
      ],
      [
        'ApiCredentialTokenExpiringSoon',
        'max by (namespace, name, provider) (last_over_time(apicred_token_expiry_timestamp_seconds[5m])) < time() + 300',
        undefined,
      ],
      [
        'ApiCredentialRenewalFailing',
        'min by (namespace, name, provider) (last_over_time(apicred_consecutive_failures[5m])) >= 5',
        undefined,
      ],
      [
        'ApiCredentialRenewalStalled',
        'min by (namespace, name, provider) (last_over_time(apicred_credential_stalled[5m])) == 1',
        undefined,
      ],
    ]);
    // Every metric an alert uses is one the operator registers.
    const metricsSource = readFileSync(join(repoRoot, 'src', 'observability', 'metrics.ts'), 'utf8');
    for (const alert of alerts) {
      for (const metric of alert.expr.match(/apicred_[a-z_]+/g) ?? []) {
        expect(metricsSource).toContain(`name: '${metric}'`);
      }
    }
  });

  it('limits egress to the allowed CIDRs in the NetworkPolicy', async () => {
    const objects = await renderChart({
      values: {
        networkPolicy: { enabled: true },
        operator: { allowedCidrs: ['10.1.2.3', '192.168.0.0/16'] },
      },
    });
    const policy = find(objects, 'NetworkPolicy')[0] as unknown as {
      spec: { egress: { to?: { ipBlock: { cidr: string } }[] }[] };
    };
    expect(policy.spec.egress.flatMap((rule) => rule.to ?? []).map((peer) => peer.ipBlock.cidr)).toEqual([
      '10.1.2.3/32',
      '192.168.0.0/16',
    ]);
  });

  it('lets the default NetworkPolicy reach every provider URL of examples/', async () => {
    const policy = find(
      await renderChart({ values: { networkPolicy: { enabled: true } } }),
      'NetworkPolicy',
    )[0] as unknown as { spec: { egress: { ports: { port: number | string }[]; to?: unknown[] }[] } };
    const allowed = new Set(policy.spec.egress.flatMap((rule) => rule.ports.map((port) => port.port)));
    const urls = readdirSync(join(repoRoot, 'examples'))
      .filter((name) => name.endsWith('.yaml'))
      .flatMap((name) =>
        parseAllDocuments(readFileSync(join(repoRoot, 'examples', name), 'utf8')).flatMap((document) =>
          providerUrls(document.toJS()).map((url) => ({ name, url })),
        ),
      );
    expect(urls.length).toBeGreaterThanOrEqual(6);
    const blocked = urls.filter(({ url }) => {
      const { port, protocol } = new URL(url);
      return !allowed.has(Number(port || (protocol === 'https:' ? 443 : 80)));
    });
    expect(blocked, `egressPorts ${[...allowed].join(', ')}`).toEqual([]);
  });

  it('refuses bad values with a message that names the field', async () => {
    expect(await failure({ rbac: { scope: 'namespaced' } })).toContain(
      'rbac.scope=namespaced needs operator.namespaces',
    );
    expect(await failure({ rbac: { scope: 'global' } })).toMatch(/rbac\/scope|scope/);
    expect(await failure({ rbac: { scope: 'global' } })).toContain("'cluster', 'namespaced'");
    expect(await failure({ operator: { logLevel: 'verbose' } })).toContain('logLevel');
    expect(await failure({ operator: { namespaces: ['Team_A'] } })).toContain('namespaces');
    expect(await failure({ operator: { concurrency: 0 } })).toContain('concurrency');
    expect(await failure({ operator: { allowedCidrs: ['everywhere'] } })).toContain('allowedCidrs');
    expect(await failure({ operator: { propagationMargin: 'two minutes' } })).toContain('propagationMargin');
    expect(
      await failure({ operator: { providerHostLimits: { 'https://a.example.com': 'fast' } } }),
    ).toContain('providerHostLimits');
    expect(await failure({ replicas: 3 })).toContain("additional properties 'replicas' not allowed");
    expect(await failure({ operator: { leaderElection: { enabled: false } } })).toContain(
      'replicaCount > 1 needs operator.leaderElection.enabled=true',
    );
    expect(await failure({ podDisruptionBudget: { maxUnavailable: 1 } })).toContain('podDisruptionBudget');
  });

  it('renders the generated CRD as a template, kept on uninstall, or none with crds.enabled=false', async () => {
    const generated = readdirSync(join(repoRoot, 'crds'))
      .filter((name) => name.endsWith('.yaml'))
      .sort()
      .map((name) => parse(readFileSync(join(repoRoot, 'crds', name), 'utf8')) as KubeObject);
    const rendered = find(await renderChart(), 'CustomResourceDefinition');
    // crds/ is for kubectl; the chart's copy adds only Helm's labels and the keep annotation.
    expect(rendered.map((crd) => ({ ...crd, metadata: { name: crd.metadata.name } }))).toEqual(
      generated.map((crd) => ({ ...crd, metadata: { name: crd.metadata.name } })),
    );
    expect(rendered[0]?.metadata).toMatchObject({
      labels: { ...generated[0]?.metadata.labels, 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: { 'helm.sh/resource-policy': 'keep' },
    });
    const notKept = find(
      await renderChart({ values: { crds: { keep: false } } }),
      'CustomResourceDefinition',
    );
    expect(notKept[0]?.metadata).not.toHaveProperty('annotations');
    expect(
      find(await renderChart({ values: { crds: { enabled: false } } }), 'CustomResourceDefinition'),
    ).toEqual([]);
    // Nothing left in crds/, which Helm would install once and never upgrade.
    expect((await helm(['show', 'crds', chartDir])).stdout.trim()).toBe('');
  });

  it('renders the generated admission policy and its binding, Deny, unless admissionPolicy.enabled=false', async () => {
    const objects = await renderChart();
    const [policy] = find<KubeObject & { spec: unknown }>(objects, 'ValidatingAdmissionPolicy');
    expect(policy?.spec).toEqual(admissionPolicySpec());
    const [binding] = find<KubeObject & { spec: unknown }>(objects, 'ValidatingAdmissionPolicyBinding');
    expect(binding?.spec).toEqual({ policyName: 'apicred-operator-references', validationActions: ['Deny'] });
    const off = await renderChart({ values: { admissionPolicy: { enabled: false } } });
    expect(kinds(off).filter((kind) => kind.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
  });
});
