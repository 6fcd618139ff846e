// A least-privilege identity for tests: a ServiceAccount with the given RBAC rules and a token minted
// through the TokenRequest API, so that every call is authenticated and authorized like in a cluster.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { adminKubeConfig, kubeconfigJson, type ControlPlaneInfo } from './controlplane.ts';

export interface IdentityOptions {
  namespace: string;
  serviceAccount: string;
  /** Rules granted by a Role in `namespace` (and in each of `extraNamespaces`). */
  rules?: V1PolicyRule[];
  /** Rules granted cluster-wide by a ClusterRole. */
  clusterRules?: V1PolicyRule[];
  extraNamespaces?: string[];
  tokenSeconds?: number;
}

export interface Identity {
  namespace: string;
  serviceAccount: string;
  username: string;
  token: string;
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
}

export async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
}

/** A kubeconfig holding a TokenRequest token of an existing ServiceAccount, as a pod would be given. */
export async function serviceAccountKubeconfig(
  plane: ControlPlaneInfo,
  namespace: string,
  serviceAccount: string,
  tokenSeconds = 3600,
): Promise<Pick<Identity, 'username' | 'token' | 'kubeconfigPath' | 'kubeConfig'>> {
  const core = adminKubeConfig(plane).makeApiClient(CoreV1Api);
  const tokenRequest = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: tokenSeconds } },
  });
  const token = tokenRequest.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);

  const kubeconfigPath = join(plane.dir, `${namespace}-${serviceAccount}.kubeconfig`);
  const username = `system:serviceaccount:${namespace}:${serviceAccount}`;
  writeFileSync(
    kubeconfigPath,
    kubeconfigJson({ server: plane.server, caFile: plane.caFile, user: username, token }),
    {
      mode: 0o600,
    },
  );
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return { username, token, kubeconfigPath, kubeConfig };
}

export async function createIdentity(plane: ControlPlaneInfo, options: IdentityOptions): Promise<Identity> {
  const admin = adminKubeConfig(plane);
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const { namespace, serviceAccount } = options;
  const subject = { kind: 'ServiceAccount', name: serviceAccount, namespace };
  const roleName = `${serviceAccount}-test-role`;

  await ensureNamespace(core, namespace);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });

  if (options.rules) {
    for (const ns of [namespace, ...(options.extraNamespaces ?? [])]) {
      await ensureNamespace(core, ns);
      await rbac.createNamespacedRole({
        namespace: ns,
        body: { metadata: { name: roleName }, rules: options.rules },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name: roleName },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName },
          subjects: [subject],
        },
      });
    }
  }
  if (options.clusterRules) {
    const name = `${namespace}-${roleName}`;
    await rbac.createClusterRole({ body: { metadata: { name }, rules: options.clusterRules } });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [subject],
      },
    });
  }

  const { username, token, kubeconfigPath, kubeConfig } = await serviceAccountKubeconfig(
    plane,
    namespace,
    serviceAccount,
    options.tokenSeconds,
  );
  return { namespace, serviceAccount, username, token, kubeconfigPath, kubeConfig };
}
