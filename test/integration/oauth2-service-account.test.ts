// Issue 15 part 3 against the real kube-apiserver and the real Keycloak 26.7.3: the operator mints a
// ServiceAccount token through the TokenRequest API and Keycloak's `federated-jwt` client
// authenticator accepts it as the client assertion (RFC 7523). No client secret exists anywhere.
//
// Keycloak's `kubernetes` identity provider takes only an issuer URL and fetches
// {issuer}/.well-known/openid-configuration; the test control plane's issuer
// (https://kubernetes.default.svc.cluster.local) is no address on this machine, so the realm trusts
// the issuer through an OIDC identity provider with client assertions on, holding the apiserver's
// ServiceAccount signing key (pki/sa.pub) as its validating key. The token, its issuer, audience and
// signature are the apiserver's own.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { repoRoot } from '../harness/crds.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { operatorOutputs } from '../harness/leak-places.ts';
import { waitFor } from '../harness/wait.ts';
import { startKeycloak, type KeycloakHandle, type RealmRepresentation } from '../keycloak/keycloak.ts';

const plane = inject('controlPlane');
const kubeConfig = adminKubeConfig(plane);
const kube = new TestKube(kubeConfig);
const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
const namespace = `satoken-${randomBytes(3).toString('hex')}`;
const REALM = 'workloads';
const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const WORKLOAD_SA = 'billing';
const OPERATOR_SA = 'apicred-operator';

let keycloak: KeycloakHandle | undefined;
let operator: RunningOperator | undefined;
/** Every access token the run saw; the minted assertions are found through Keycloak's token exchange log below. */
const tokens = new Set<string>();

function server(): KeycloakHandle {
  if (!keycloak) throw new Error('Keycloak did not start; see the beforeAll error');
  return keycloak;
}

function running(): RunningOperator {
  if (!operator) throw new Error('the operator did not start; see the beforeAll error');
  return operator;
}

function realm(): RealmRepresentation {
  const publicKey = readFileSync(join(plane.dir, 'pki', 'sa.pub'), 'utf8');
  return {
    realm: REALM,
    enabled: true,
    accessTokenLifespan: 120,
    identityProviders: [
      {
        alias: 'kubernetes',
        providerId: 'oidc',
        enabled: true,
        hideOnLogin: true,
        config: {
          issuer: ISSUER,
          supportsClientAssertions: 'true',
          validateSignature: 'true',
          useJwksUrl: 'false',
          publicKeySignatureVerifier: publicKey,
          clientId: 'unused',
          clientSecret: 'unused',
          authorizationUrl: `${ISSUER}/unused`,
          tokenUrl: `${ISSUER}/unused`,
          clientAuthMethod: 'client_secret_post',
          syncMode: 'LEGACY',
        },
      },
    ],
    clients: [
      {
        clientId: 'billing-workload',
        enabled: true,
        protocol: 'openid-connect',
        publicClient: false,
        serviceAccountsEnabled: true,
        standardFlowEnabled: false,
        directAccessGrantsEnabled: false,
        clientAuthenticatorType: 'federated-jwt',
        attributes: {
          'jwt.credential.issuer': 'kubernetes',
          'jwt.credential.sub': `system:serviceaccount:${namespace}:${WORKLOAD_SA}`,
        },
      },
    ],
  };
}

async function grantTokenRequest(): Promise<void> {
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: 'apicred-service-account-tokens' },
      rules: [{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: 'apicred-service-account-tokens' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: 'apicred-service-account-tokens',
      },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_SA, namespace }],
    },
  });
}

function spec(serviceAccountName: string): Record<string, unknown> {
  return {
    provider: {
      oauth2: {
        issuerUrl: server().issuer(REALM),
        clientAuth: 'service_account_token',
        serviceAccountToken: { serviceAccountName, audience: server().issuer(REALM) },
      },
    },
  };
}

async function failedWith(name: string, reason: string): Promise<string> {
  const found = await waitFor(
    `${name} to fail with ${reason}`,
    async () => {
      const ready = condition(await kube.credential(namespace, name), 'Ready');
      return ready?.status === 'False' && ready.reason === reason ? ready : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  return found.message;
}

beforeAll(async () => {
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace, OPERATOR_SA);
  keycloak = await startKeycloak({ realm: realm(), logDir: join(repoRoot, 'test-results', 'keycloak') });
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--propagation-margin=10s'],
  });
}, 900_000);

afterAll(async () => {
  await operator?.stop();
  await keycloak?.stop();
});

describe('oauth2 clientAuth service_account_token against Keycloak federated-jwt', () => {
  it('says which permission the operator lacks and which chart value grants it', async () => {
    await kube.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: WORKLOAD_SA } } });
    await kube.createCredential(namespace, 'billing', spec(WORKLOAD_SA));
    const message = await failedWith('billing', 'ServiceAccountTokenForbidden');
    expect(message).toContain(`create serviceaccounts/token in namespace ${namespace}`);
    expect(message).toContain('rbac.serviceAccountTokens=true');
  });

  it('is Ready with the RBAC, the Secret holding a Keycloak token for the federated client', async () => {
    // No edit of the credential: the operator retries and finds the new permission itself.
    await grantTokenRequest();
    const token = await waitFor(
      'billing to be Ready with a token',
      async () => {
        const ready = condition(await kube.credential(namespace, 'billing'), 'Ready');
        const value = (await kube.secretValues(namespace, 'billing'))?.token;
        return ready?.status === 'True' && value ? value : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    tokens.add(token);
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      azp?: string;
      iss?: string;
    };
    expect(claims).toMatchObject({ azp: 'billing-workload', iss: server().issuer(REALM) });
  });

  it('renews with a freshly minted assertion', async () => {
    await kube.requestRefresh(namespace, 'billing');
    const renewed = await waitFor(
      'a renewed billing token',
      async () => {
        const value = (await kube.secretValues(namespace, 'billing'))?.token;
        return value && !tokens.has(value) ? value : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    tokens.add(renewed);
    expect(condition(await kube.credential(namespace, 'billing'), 'Ready')?.status).toBe('True');
  });

  it('names a missing ServiceAccount and the spec field', async () => {
    await kube.createCredential(namespace, 'ghost', spec('no-such-sa'));
    const message = await failedWith('ghost', 'ServiceAccountNotFound');
    expect(message).toContain(`ServiceAccount ${namespace}/no-such-sa`);
    expect(message).toContain('spec.provider.oauth2.serviceAccountToken.serviceAccountName');
  });

  it("quotes Keycloak's refusal of an assertion it does not trust", async () => {
    await kube.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'stranger' } } });
    await kube.createCredential(namespace, 'stranger', spec('stranger'));
    const message = await waitFor(
      'stranger to fail at the token endpoint',
      async () => {
        const ready = condition(await kube.credential(namespace, 'stranger'), 'Ready');
        return ready?.status === 'False' && ready.reason !== 'Pending' ? ready.message : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(message).toContain('invalid_client');
    expect(message).toContain(`ServiceAccount ${namespace}/stranger`);
  });

  it('shows no ServiceAccount token and no access token anywhere: logs, Events, status, metrics', async () => {
    // The operator's assertions are unknown to the test: it scans for the header every apiserver-signed
    // ServiceAccount token starts with, checked on one minted here (Keycloak's tokens put typ first).
    const probe = await kube.core.createNamespacedServiceAccountToken({
      name: WORKLOAD_SA,
      namespace,
      body: { spec: { audiences: [server().issuer(REALM)], expirationSeconds: 600 } },
    });
    const serviceAccountJwtHeader = Buffer.from('{"alg":"RS256","kid":').toString('base64url');
    expect(probe.status?.token?.startsWith(serviceAccountJwtHeader)).toBe(true);
    expect([...tokens].some((token) => token.startsWith(serviceAccountJwtHeader))).toBe(false);
    const { places, credentials, eventCount } = await operatorOutputs(kube, namespace, running());
    for (const credential of credentials) {
      places.set(`ApiCredential ${credential.metadata.name}`, JSON.stringify(credential));
    }
    const hits: string[] = [];
    for (const [where, text] of places) {
      for (const value of tokens) {
        for (const form of [value, Buffer.from(value).toString('base64')]) {
          if (text.includes(form)) hits.push(`access token in ${where}`);
        }
      }
      if (text.includes(serviceAccountJwtHeader)) hits.push(`a JWT in ${where}`);
      if (text.includes(`"iss":"${ISSUER}"`)) hits.push(`ServiceAccount token claims in ${where}`);
    }
    expect(eventCount).toBeGreaterThanOrEqual(3);
    expect(hits).toEqual([]);
  });
});
