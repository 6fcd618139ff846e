// `npm run demo`: a local control plane, a real Keycloak and local token providers for every other
// provider kind (with lifetimes of a minute or two), the examples from examples/ applied against them,
// the operator, and a live view of the credentials renewing. As root it also starts a real node
// (test/node/) with a pod that mounts the orders Secret (`--no-node` leaves it out). Ctrl-C stops
// everything. `-- --duration 90` stops by itself, and exits 1 naming each credential that is not Ready
// at the end, or the pod if it never read its Secret or held an expired token.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { type ApiCredential } from '../src/api/apicredential.ts';
import { binaryPath } from '../test/controlplane/paths.ts';
import { IdempiereEmulator } from '../test/emulators/idempiere.ts';
import { GARDENWORLD_LOGINS } from '../test/emulators/idempiere-data.ts';
import { IDMP_DEFAULT_USER, IdmpEmulator } from '../test/emulators/idmp.ts';
import { InsightsHubEmulator, TTM_DEFAULT_APP } from '../test/emulators/insights-hub.ts';
import { TapdataEmulator } from '../test/emulators/tapdata.ts';
import { adminKubeConfig, kubectl, startControlPlane } from '../test/harness/controlplane.ts';
import { crdFiles, repoRoot } from '../test/harness/crds.ts';
import { TestKube } from '../test/harness/kube.ts';
import { prepareOperatorNamespace, startOperator } from '../test/harness/operator.ts';
import { startKeycloak } from '../test/keycloak/keycloak.ts';
import { ensureNodeBuilt } from '../test/node/build.ts';
import { prepareNode, startNode, type RunningNode } from '../test/node/node.ts';
import { containerLog } from '../test/node-tier/consumer.ts';
import {
  CONSUMER_CONTAINER,
  CONSUMER_POD,
  consumerLine,
  consumerPod,
  consumerProblems,
  consumerVerdict,
  parseConsumerLog,
  type ConsumerVerdict,
} from './demo-consumer.ts';
import { notReadyCredentials, readyNames } from './demo-verdict.ts';
import { ensurePrerequisites } from './prerequisites.ts';

const { values: flags } = parseArgs({
  options: { duration: { type: 'string' }, node: { type: 'boolean', default: true } },
  allowNegative: true,
});
const durationMs = flags.duration ? Number(flags.duration) * 1000 : undefined;
const NAMESPACE = 'demo';
const say = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

say('apicred-operator demo: building or reusing the control plane, Helm and Keycloak...');
await ensurePrerequisites();
/** Why the demo shows no consumer pod, or undefined when it starts a node for one. */
let noNode: string | undefined = !flags.node
  ? 'not started (--no-node)'
  : process.getuid?.() !== 0
    ? 'none: a real node (kubelet, containerd) needs root; run the demo as root to see a pod mount the Secret'
    : undefined;
if (noNode === undefined) {
  say('building or reusing the node (kubelet, containerd, CNI plugins) for a consumer pod...');
  await ensureNodeBuilt();
}
const preparedNode = noNode === undefined ? await prepareNode() : undefined;
const plane = await startControlPlane({
  crdFiles: crdFiles(),
  ...(preparedNode ? { nodeClientCaFile: preparedNode.clientCaFile } : {}),
});
say(`control plane ready in ${(plane.startedInMs / 1000).toFixed(1)} s`);
let node: RunningNode | undefined;
if (preparedNode) {
  try {
    node = await startNode(preparedNode, plane);
    say(`node ${node.name} Ready in ${(node.startedInMs / 1000).toFixed(1)} s`);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    noNode = `none: the node did not start (${reason.split('\n')[0] ?? ''}); run with --no-node to leave it out`;
    say(`the node did not start, so the demo runs without a consumer pod:\n${reason}`);
  }
}
say('starting Keycloak and local token providers...');

// Providers with short lifetimes, so that renewals happen while you watch. Keycloak is the real server
// `npm test` uses, with the example's realm, client and scope.
const keycloakClient = { clientId: 'orders-service', secret: randomBytes(16).toString('hex') };
const keycloakRealm = 'shop';
// Refresh-token mode: a person logs in once (here the demo, by the password grant of a public client)
// and pastes the refresh token; refresh tokens are single-use, as with "Revoke Refresh Token" on.
const reportsUser = { username: 'reports-reader', password: randomBytes(12).toString('hex') };
const keycloak = await startKeycloak({
  realm: {
    name: keycloakRealm,
    // Keycloak's default 5 minutes: renewed 100 s before expiry (renewBeforePercentage 33), more than the
    // 74 s kubelet took at most to update a mounted Secret (docs/propagation.md), so the consumer pod
    // never holds an expired token.
    accessTokenLifespanSeconds: 300,
    secretClients: [keycloakClient],
    passwordClients: ['reports-cli'],
    users: [reportsUser],
    singleUseRefreshTokens: true,
    optionalScopes: ['orders.read'],
  },
});
say(`Keycloak ${keycloak.version} ready in ${(keycloak.startedInMs / 1000).toFixed(1)} s`);
const pasted = await fetch(keycloak.tokenUrl(keycloakRealm), {
  method: 'POST',
  body: new URLSearchParams({ grant_type: 'password', client_id: 'reports-cli', ...reportsUser }),
});
const pastedBody = (await pasted.json()) as { refresh_token?: string };
if (!pastedBody.refresh_token)
  throw new Error(`Keycloak's password grant gave no refresh token (HTTP ${pasted.status})`);
const pastedRefreshToken = pastedBody.refresh_token;
const tapdataClient = {
  clientId: '68376c8a4cf9b840dba2e118',
  clientSecret: randomBytes(16).toString('hex'),
  ttlSeconds: 120,
};
const tapdata = new TapdataEmulator({ clients: [tapdataClient] });
const idmp = new IdmpEmulator({ knobs: { tokenTtlSeconds: 90 } });
const idmpCloud = new IdmpEmulator({ knobs: { mode: 'cloud', cloudBearerIsJwt: true } });
const hubApp = { ...TTM_DEFAULT_APP, clientSecret: randomBytes(16).toString('hex') };
const hub = new InsightsHubEmulator({ apps: [hubApp], knobs: { tokenLifetimeSeconds: 120, expiresIn: 119 } });
const erp = new IdempiereEmulator({ knobs: { tokenExpireMinutes: 1.5 } });
await Promise.all([tapdata.start(), idmp.start(), idmpCloud.start(), hub.start(), erp.start()]);
const browserSession = idmpCloud.mintCloudSession(60 * 60_000);

/** Each example as written, pointed at the local providers and given their demo credentials. */
function localize(file: string, document: Record<string, unknown>): Record<string, unknown> {
  const spec = document.spec as { provider?: Record<string, Record<string, unknown>> } | undefined;
  const provider = spec?.provider ? Object.values(spec.provider)[0] : undefined;
  if (document.kind === 'Secret') {
    const stringData: Record<string, Record<string, string>> = {
      'keycloak.yaml': { client_id: keycloakClient.clientId, client_secret: keycloakClient.secret },
      'oauth2-refresh-token.yaml':
        document.metadata && (document.metadata as { name?: string }).name === 'reports-refresh-token'
          ? { refresh_token: pastedRefreshToken }
          : { client_id: 'reports-cli' },
      'tapdata.yaml': { client_id: tapdataClient.clientId, client_secret: tapdataClient.clientSecret },
      'idmp.yaml': { username: IDMP_DEFAULT_USER.loginName, password: IDMP_DEFAULT_USER.password },
      'idmp-cloud.yaml': { bearer_token: browserSession.bearer, access_token: browserSession.accessToken },
      'insights-hub.yaml': { client_id: hubApp.clientId, client_secret: hubApp.clientSecret },
      'idempiere.yaml': {
        username: GARDENWORLD_LOGINS.abbreviated.userName,
        password: GARDENWORLD_LOGINS.abbreviated.password,
      },
    };
    return { ...document, stringData: stringData[file] ?? document.stringData };
  }
  if (provider) {
    const urls: Record<string, [string, string]> = {
      'keycloak.yaml': ['issuerUrl', keycloak.issuer(keycloakRealm)],
      'oauth2-refresh-token.yaml': ['tokenUrl', keycloak.tokenUrl(keycloakRealm)],
      'tapdata.yaml': ['baseUrl', tapdata.url],
      'idmp.yaml': ['baseUrl', idmp.url],
      'idmp-cloud.yaml': ['baseUrl', idmpCloud.url],
      'insights-hub.yaml': ['baseUrl', hub.url],
      'idempiere.yaml': ['baseUrl', erp.url],
    };
    const [field, url] = urls[file] ?? [];
    if (field && url) provider[field] = url;
  }
  return document;
}

const kube = new TestKube(adminKubeConfig(plane));
const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, NAMESPACE);
// Keycloak must trust this cluster's ServiceAccount issuer for it (an identity provider holding the
// apiserver's signing key), which the demo does not set up; oauth2-service-account.test.ts runs it.
// The device grant waits for a person to approve on Keycloak's pages; oauth2-device-keycloak.test.ts
// plays that person.
const NOT_IN_DEMO = new Set(['keycloak-service-account.yaml', 'oauth2-device.yaml']);
for (const file of readdirSync(join(repoRoot, 'examples'))
  .filter((name) => name.endsWith('.yaml') && !NOT_IN_DEMO.has(name))
  .sort()) {
  const documents = parseAllDocuments(readFileSync(join(repoRoot, 'examples', file), 'utf8')).map(
    (document) => document.toJSON() as Record<string, unknown>,
  );
  const manifest = documents.map((document) => JSON.stringify(localize(file, document))).join('\n');
  await kubectl(plane, ['apply', '-n', NAMESPACE, '-f', '-'], { input: manifest });
}
say('examples applied; starting the operator under a least-privilege ServiceAccount...');
const operator = await startOperator({
  kubeconfig,
  logDir,
  name: 'demo-operator',
  namespaces: [NAMESPACE],
  extraArgs: ['--leader-elect=false', '--propagation-margin=20s', '--log-level=info'],
});
if (node) await kubectl(plane, ['apply', '-f', '-'], { input: JSON.stringify(consumerPod(NAMESPACE)) });

/** What the consumer pod has read so far, from the kubelet's container log. */
function consumer(): ConsumerVerdict | undefined {
  if (!node) return undefined;
  let log = '';
  try {
    log = containerLog(node.podLogsDir, NAMESPACE, CONSUMER_POD, CONSUMER_CONTAINER);
  } catch {
    // The container has not started yet: kubelet waits for the operator to create the Secret.
  }
  return consumerVerdict(parseConsumerLog(log), Date.now());
}

function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const seconds = Math.round(ms / 1000);
  const sign = seconds < 0 ? '-' : '';
  const abs = Math.abs(seconds);
  return abs >= 3600
    ? `${sign}${Math.floor(abs / 3600)}h${Math.floor((abs % 3600) / 60)}m`
    : `${sign}${Math.floor(abs / 60)}m${String(abs % 60).padStart(2, '0')}s`;
}

async function listCredentials(): Promise<ApiCredential[]> {
  const list = (await kube.objects.listNamespacedCustomObject({
    group: 'apicred.dev',
    version: 'v1alpha1',
    namespace: NAMESPACE,
    plural: 'apicredentials',
  })) as { items: ApiCredential[] };
  return list.items;
}

const everReady = new Set<string>();

async function view(): Promise<string> {
  const list = { items: await listCredentials() };
  for (const name of readyNames(list.items)) everReady.add(name);
  const events = await kube.core.listNamespacedEvent({ namespace: NAMESPACE });
  const renewals = new Map<string, number>();
  for (const event of events.items) {
    if (event.reason !== 'Renewed' && event.reason !== 'Issued') continue;
    const name = event.involvedObject.name ?? '';
    renewals.set(name, (renewals.get(name) ?? 0) + (event.count ?? 1) - (event.reason === 'Issued' ? 1 : 0));
  }
  const now = Date.now();
  const rows = list.items
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((credential) => {
      const status = credential.status ?? {};
      const ready = status.conditions?.find((c) => c.type === 'Ready');
      const tenants = status.tenants ? ` (${status.tenants.ready}/${status.tenants.total} tenants)` : '';
      return [
        credential.metadata.name,
        status.provider ?? '',
        `${ready?.status ?? 'Unknown'} ${ready?.reason ?? ''}${tenants}`,
        status.secretName ?? '',
        duration(Date.parse(status.expiresAt ?? '') - now),
        duration(Date.parse(status.nextRefreshTime ?? '') - now),
        String(renewals.get(credential.metadata.name) ?? 0),
      ];
    });
  const header = ['NAME', 'PROVIDER', 'READY', 'SECRET', 'EXPIRES IN', 'NEXT RENEWAL', 'RENEWALS'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ');
  return [
    `apicred-operator demo — ${new Date().toISOString().slice(11, 19)} UTC — Ctrl-C stops everything`,
    '',
    line(header),
    ...rows.map(line),
    '',
    node ? consumerLine(consumer() ?? { expiredSpans: [] }, duration) : `consumer pod: ${noNode ?? ''}`,
    '',
    'Look for yourself:',
    `  export KUBECONFIG=${plane.adminKubeconfig}`,
    `  ${binaryPath('kubectl')} get apicred -n ${NAMESPACE}`,
    `  ${binaryPath('kubectl')} describe apicred -n ${NAMESPACE} orders`,
    `  ${binaryPath('kubectl')} get secret -n ${NAMESPACE} orders-token -o yaml`,
    ...(node ? [`  ${binaryPath('kubectl')} get pod -n ${NAMESPACE} ${CONSUMER_POD} -o wide`] : []),
    `operator log: ${operator.logFile}`,
  ].join('\n');
}

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('\nstopping the operator, the providers and the control plane...');
  await operator.stop();
  await Promise.all([keycloak.stop(), tapdata.stop(), idmp.stop(), idmpCloud.stop(), hub.stop(), erp.stop()]);
  await node?.stop();
  await plane.stop();
  say('stopped; nothing is left running.');
  process.exit(code);
}
/** The end of a --duration run: exit 1, naming each credential, when any is not Ready. */
async function finish(): Promise<void> {
  const problems = await listCredentials()
    .then((credentials) => notReadyCredentials(credentials, everReady))
    .catch((error: unknown) => [`could not read the credentials: ${String(error)}`]);
  const pod = consumer();
  if (pod) problems.push(...consumerProblems(pod));
  else if (flags.node && preparedNode) problems.push(`consumer pod: ${noNode ?? 'none'}`);
  if (problems.length === 0)
    say(`every credential is Ready${node ? '; the consumer pod never held an expired token' : ''}.`);
  else
    say(
      `not every credential is Ready; see ${operator.logFile}:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  await shutdown(problems.length === 0 ? 0 : 1);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

const interactive = process.stdout.isTTY;
const started = Date.now();
for (;;) {
  const text = await view().catch((error: unknown) => `could not read the credentials: ${String(error)}`);
  // A terminal gets a live screen; a pipe or log gets a snapshot every 10 s.
  process.stdout.write(interactive ? `\x1b[2J\x1b[H${text}\n` : `${text}\n\n`);
  if (durationMs !== undefined && Date.now() - started >= durationMs) await finish();
  await new Promise((resolve) => setTimeout(resolve, interactive ? 1_000 : 10_000));
}
