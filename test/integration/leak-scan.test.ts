// The leak scan: every provider flow, with its fault and error paths, through the real operator
// process against the real control plane, with distinctive planted secrets. Afterwards every place a
// person or a tool can read without Secret access is searched for every secret the run handled:
// the operator's debug log, all Events, every ApiCredential's status, /metrics, the consumer Secrets'
// metadata and non-token keys, and the state Secrets' metadata.
import { randomBytes } from 'node:crypto';
import { type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ApiCredential } from '../../src/api/apicredential.ts';
import { LABEL_ROLE } from '../../src/secrets/consumer.ts';
import { GARDENWORLD_LOGINS } from '../emulators/idempiere-data.ts';
import { IdempiereEmulator } from '../emulators/idempiere.ts';
import { IdmpEmulator } from '../emulators/idmp.ts';
import { InsightsHubEmulator, TTM_DEFAULT_APP } from '../emulators/insights-hub.ts';
import { TapdataEmulator } from '../emulators/tapdata.ts';
import type { Emulator } from '../emulators/emulator.ts';
import type { Fault } from '../emulators/faults.ts';
import { adminKubeConfig } from '../harness/controlplane.ts';
import { TestKube, condition } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { operatorOutputs } from '../harness/leak-places.ts';
import { waitFor } from '../harness/wait.ts';
import type { ClientMetadata } from 'oidc-provider';
import { startOidcServer, type OidcServer } from '../oidc/server.ts';

const plane = inject('controlPlane');
const kube = new TestKube(adminKubeConfig(plane));
const namespace = `leak-${randomBytes(3).toString('hex')}`;
const LIFETIME_S = 8;

/** A value nobody could produce by chance, labelled so that a hit says which secret it was. */
const plant = (label: string): string => `Leak${label}${randomBytes(12).toString('hex')}`;
const planted = {
  oauth2ClientSecret: plant('OidcSecret'),
  tapdataClientSecret: plant('TapSecret'),
  idmpPassword: plant('IdmpPass'),
  ttmClientSecret: plant('TtmSecret'),
  idempierePassword: plant('ErpPass'),
  wrongOauth2Secret: plant('WrongOidc'),
  wrongTapdataSecret: plant('WrongTap'),
  wrongIdmpPassword: plant('WrongIdmp'),
  wrongTtmSecret: plant('WrongTtm'),
  wrongIdempierePassword: plant('WrongErp'),
  deviceClientSecret: plant('DeviceSecret'),
};
/** Every secret value the run handled, by label: planted ones, then every token and state value seen. */
const secrets = new Map<string, string>(Object.entries(planted));

const OIDC_CLIENTS: ClientMetadata[] = [
  {
    client_id: 'leak-client',
    client_secret: planted.oauth2ClientSecret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    // The device grant: the code the operator polls with lives in the state Secret only.
    client_id: 'leak-device-client',
    client_secret: planted.deviceClientSecret,
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
];

let oidc: OidcServer;
let tapdata: TapdataEmulator;
let idmp: IdmpEmulator;
let cloud: IdmpEmulator;
let hub: InsightsHubEmulator;
let erp: IdempiereEmulator;
let operator: RunningOperator;

const TOKEN_ROUTES: [string, () => Emulator, string][] = [
  ['leak-tapdata', () => tapdata, 'POST /oauth/token'],
  ['leak-idmp', () => idmp, 'POST /api/v1/users/login'],
  ['leak-hub', () => hub, 'POST /api/technicaltokenmanager/v3/oauth/token'],
  ['leak-erp', () => erp, 'POST /api/v1/auth/refresh'],
  ['leak-cloud', () => cloud, 'GET /api/v1/elements'],
];
const FAULTS: Fault[] = [
  { kind: 'status', status: 503, body: { error: 'server_error', error_description: 'down for maintenance' } },
  { kind: 'invalid-json' },
  { kind: 'truncated', commit: true },
  { kind: 'html', status: 502 },
  { kind: 'status', status: 429, retryAfter: 1 },
];

async function requestRefresh(name: string): Promise<void> {
  await kube.requestRefresh(namespace, name);
}

async function operatorSecrets(role: 'token' | 'state'): Promise<V1Secret[]> {
  const list = await kube.core.listNamespacedSecret({ namespace, labelSelector: `${LABEL_ROLE}=${role}` });
  return list.items;
}

const decode = (value: string): string => Buffer.from(value, 'base64').toString('utf8');
/** spec.secret.template keys, rendered from the tokens: they hold a token by design, like `token`. */
const TEMPLATES: Record<string, Record<string, string>> = {
  'leak-tapdata': {
    'config.json': '{"apiKey": {{ token | json }}}',
    'auth-header': 'Authorization: {{ tokenType }} {{ token }}',
    'docker-auth': '{{ "apicred:" | append: token | base64_encode }}',
  },
  'leak-hub': {
    'tenants.json':
      '{ {%- for t in tenants %}{{ t[0] | json }}: {{ t[1].token | json }},{%- endfor %} "": "" }',
  },
};
const TEMPLATE_KEYS = new Set(Object.values(TEMPLATES).flatMap((template) => Object.keys(template)));
const isTokenKey = (key: string): boolean =>
  /^(token|access-token)(\.|$)/.test(key) || TEMPLATE_KEYS.has(key);

/** Adds every token and state value now in the cluster to the secrets to search for. */
async function collectIssued(): Promise<void> {
  for (const secret of await operatorSecrets('token')) {
    for (const [key, value] of Object.entries(secret.data ?? {})) {
      if (isTokenKey(key))
        secrets.set(`token ${secret.metadata?.name ?? ''}/${key}#${secrets.size}`, decode(value));
    }
  }
  for (const secret of await operatorSecrets('state')) {
    for (const [key, value] of Object.entries(secret.data ?? {})) {
      const text = decode(value);
      // Hashes, ids and times are stored too; only what can be used as a credential is secret (the
      // device code is; the user code is shown to people by design).
      if ((/token/i.test(key) || key === 'deviceCode') && text.length >= 16)
        secrets.set(`state ${secret.metadata?.name ?? ''}/${key}#${secrets.size}`, text);
    }
  }
}

async function ready(name: string): Promise<ApiCredential | undefined> {
  const credential = await kube.credential(namespace, name);
  return condition(credential, 'Ready')?.status === 'True' ? credential : undefined;
}

beforeAll(async () => {
  oidc = await startOidcServer({
    accessTokenTtlSeconds: LIFETIME_S,
    clients: OIDC_CLIENTS,
  });
  tapdata = new TapdataEmulator({
    clients: [{ clientId: 'leak-tapdata-client', clientSecret: planted.tapdataClientSecret }],
  });
  idmp = new IdmpEmulator({
    users: [{ loginName: 'leak@example.com', password: planted.idmpPassword }],
    knobs: { tokenTtlSeconds: LIFETIME_S },
  });
  cloud = new IdmpEmulator({ knobs: { mode: 'cloud' } });
  hub = new InsightsHubEmulator({
    apps: [{ ...TTM_DEFAULT_APP, clientSecret: planted.ttmClientSecret }],
    knobs: { tokenLifetimeSeconds: LIFETIME_S, expiresIn: LIFETIME_S - 1 },
  });
  erp = new IdempiereEmulator({ knobs: { tokenExpireMinutes: LIFETIME_S / 60 } });
  erp.changePassword(GARDENWORLD_LOGINS.multiStep.userName, planted.idempierePassword);
  await Promise.all([tapdata.start(), idmp.start(), cloud.start(), hub.start(), erp.start()]);
  const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, namespace);
  operator = await startOperator({
    kubeconfig,
    logDir,
    namespaces: [namespace],
    extraArgs: ['--leader-elect=false', '--propagation-margin=1s'],
  });
});

afterAll(async () => {
  await operator.stop();
  await Promise.all([oidc.stop(), tapdata.stop(), idmp.stop(), cloud.stop(), hub.stop(), erp.stop()]);
});

describe('leak scan', () => {
  it('finds no secret anywhere but the Secrets meant to hold it, after every flow and fault', async () => {
    const session = cloud.mintCloudSession();
    secrets.set('cloudBearer', session.bearer);
    secrets.set('cloudAccessToken', session.accessToken);
    const hubApp = {
      appName: TTM_DEFAULT_APP.appName,
      appVersion: TTM_DEFAULT_APP.appVersion,
      hostTenant: TTM_DEFAULT_APP.hostTenant,
    };
    const erpLogin = { client: 'GardenWorld', role: 'GardenWorld Admin', organization: 'HQ' };
    const inputs: [string, Record<string, string>][] = [
      ['oidc-good', { client_id: 'leak-client', client_secret: planted.oauth2ClientSecret }],
      ['oidc-bad', { client_id: 'leak-client', client_secret: planted.wrongOauth2Secret }],
      ['oidc-device', { client_id: 'leak-device-client', client_secret: planted.deviceClientSecret }],
      ['tap-good', { client_id: 'leak-tapdata-client', client_secret: planted.tapdataClientSecret }],
      ['tap-bad', { client_id: 'leak-tapdata-client', client_secret: planted.wrongTapdataSecret }],
      ['idmp-good', { username: 'leak@example.com', password: planted.idmpPassword }],
      ['idmp-bad', { username: 'leak@example.com', password: planted.wrongIdmpPassword }],
      ['cloud-good', { bearer_token: session.bearer, access_token: session.accessToken }],
      ['ttm-good', { client_id: TTM_DEFAULT_APP.clientId, client_secret: planted.ttmClientSecret }],
      ['ttm-bad', { client_id: TTM_DEFAULT_APP.clientId, client_secret: planted.wrongTtmSecret }],
      ['erp-good', { username: GARDENWORLD_LOGINS.multiStep.userName, password: planted.idempierePassword }],
      [
        'erp-bad',
        { username: GARDENWORLD_LOGINS.multiStep.userName, password: planted.wrongIdempierePassword },
      ],
    ];
    for (const [name, data] of inputs) await kube.putSecret(namespace, name, data);
    const credentials: [string, Record<string, unknown>][] = [
      ['leak-oauth2', { oauth2: { issuerUrl: oidc.issuer, credentialsRef: { name: 'oidc-good' } } }],
      ['bad-oauth2', { oauth2: { tokenUrl: oidc.tokenUrl, credentialsRef: { name: 'oidc-bad' } } }],
      [
        'await-device',
        {
          oauth2: {
            issuerUrl: oidc.issuer,
            credentialsRef: { name: 'oidc-device' },
            scopes: ['openid'],
            deviceAuthorization: {},
          },
        },
      ],
      ['leak-tapdata', { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tap-good' } } }],
      ['bad-tapdata', { tapdata: { baseUrl: tapdata.url, credentialsRef: { name: 'tap-bad' } } }],
      ['leak-idmp', { idmp: { baseUrl: idmp.url, credentialsRef: { name: 'idmp-good' } } }],
      ['bad-idmp', { idmp: { baseUrl: idmp.url, credentialsRef: { name: 'idmp-bad' } } }],
      [
        'leak-cloud',
        { idmpCloud: { baseUrl: cloud.url, tokensRef: { name: 'cloud-good' }, checkInterval: '1m' } },
      ],
      [
        'leak-hub',
        {
          insightsHub: {
            baseUrl: hub.url,
            credentialsRef: { name: 'ttm-good' },
            ...hubApp,
            allUserTenants: true,
            batchSize: 2,
          },
        },
      ],
      [
        'bad-hub',
        {
          insightsHub: {
            baseUrl: hub.url,
            credentialsRef: { name: 'ttm-bad' },
            ...hubApp,
            userTenants: [hubApp.hostTenant],
          },
        },
      ],
      [
        'leak-erp',
        { idempiere: { baseUrl: erp.url, credentialsRef: { name: 'erp-good' }, login: erpLogin } },
      ],
      ['bad-erp', { idempiere: { baseUrl: erp.url, credentialsRef: { name: 'erp-bad' }, login: erpLogin } }],
    ];
    for (const [name, provider] of credentials) {
      const template = TEMPLATES[name];
      await kube.createCredential(namespace, name, {
        provider,
        ...(template ? { secret: { template } } : {}),
      });
    }

    // Every good flow issues; every wrong credential fails with a reason.
    for (const [name] of credentials) {
      await waitFor(
        `${name} to settle`,
        async () => {
          const found = condition(await kube.credential(namespace, name), 'Ready');
          if (name.startsWith('leak-')) return found?.status === 'True' ? true : undefined;
          return found?.status === 'False' && found.reason !== 'Pending' && found.reason !== ''
            ? true
            : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    }
    await collectIssued();

    // Fault paths: 503, garbage, a truncated answer after the server acted, an HTML 502 and a 429,
    // one after another on each provider's token route, then recovery.
    // One fault at a time, each served before the next: a refresh request makes the operator ask at
    // once, past its backoff and past a terminal failure the previous fault caused.
    for (const fault of FAULTS) {
      for (const [name, emulator, route] of TOKEN_ROUTES) {
        emulator().faults.push(route, fault);
        await requestRefresh(name);
      }
      await waitFor(
        `every ${fault.kind} fault to be served`,
        async () => {
          const pending = TOKEN_ROUTES.filter(([, emulator, route]) => emulator().faults.pending(route) > 0);
          // iDempiere logs in after an unknown refresh outcome: its refresh route is used at the next renewal.
          for (const [name] of pending) await requestRefresh(name);
          return pending.length === 0 ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 2_000 },
      );
    }
    // oauth2 faults come from a real server: an outage, then back.
    await oidc.stop();
    await requestRefresh('leak-oauth2');
    await waitFor(
      'the oauth2 outage to be noticed',
      async () =>
        (await kube.credential(namespace, 'leak-oauth2'))?.status?.consecutiveFailures ? true : undefined,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    oidc = await startOidcServer({
      port: Number(new URL(oidc.issuer).port),
      accessTokenTtlSeconds: LIFETIME_S,
      clients: OIDC_CLIENTS,
    });
    // A fault that failed terminally (an HTML page from the cloud check) waits for a person: ask again.
    for (const [name] of credentials.filter(([n]) => n.startsWith('leak-'))) await requestRefresh(name);
    for (const [name] of credentials.filter(([n]) => n.startsWith('leak-'))) {
      await waitFor(`${name} to recover`, () => ready(name), { timeoutMs: 90_000, intervalMs: 250 });
    }
    await collectIssued();

    // Revocation and logout on delete.
    const revocationsBefore = oidc.revocations();
    for (const name of ['leak-oauth2', 'leak-erp']) await kube.deleteCredential(namespace, name);
    await waitFor(
      'the deleted credentials to be released',
      async () =>
        (await kube.credential(namespace, 'leak-oauth2')) === undefined &&
        (await kube.credential(namespace, 'leak-erp')) === undefined
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(oidc.revocations()).toBeGreaterThan(revocationsBefore);

    // The device grant's code was handled (it is among the values searched for).
    await collectIssued();
    expect(
      [...secrets.keys()].filter((label) => label.startsWith('state await-device.apicred-state/deviceCode')),
    ).not.toEqual([]);

    // The scan.
    const { places, credentials: scanned, eventCount } = await operatorOutputs(kube, namespace, operator);
    for (const credential of scanned) {
      places.set(`ApiCredential ${credential.metadata.name} status`, JSON.stringify(credential.status));
      places.set(`ApiCredential ${credential.metadata.name} metadata`, JSON.stringify(credential.metadata));
    }
    for (const secret of await operatorSecrets('token')) {
      const name = secret.metadata?.name ?? '';
      places.set(`consumer Secret ${name} metadata`, JSON.stringify(secret.metadata));
      for (const [key, value] of Object.entries(secret.data ?? {})) {
        if (!isTokenKey(key)) places.set(`consumer Secret ${name} key ${key}`, decode(value));
      }
    }
    for (const secret of await operatorSecrets('state')) {
      places.set(`state Secret ${secret.metadata?.name ?? ''} metadata`, JSON.stringify(secret.metadata));
    }

    // The templates rendered (and their keys are held to the token rules above).
    const rendered = await kube.secretValues(namespace, 'leak-tapdata');
    expect(rendered?.['auth-header']).toBe(`Authorization: Bearer ${rendered?.token ?? ''}`);
    expect(Object.keys((await kube.secretValues(namespace, 'leak-hub')) ?? {})).toContain('tenants.json');

    // Positive control: the same search finds the planted values where they belong.
    const inputSecret = JSON.stringify((await kube.secret(namespace, 'tap-good'))?.data);
    expect(inputSecret).toContain(Buffer.from(planted.tapdataClientSecret).toString('base64'));

    const hits: string[] = [];
    let bytes = 0;
    for (const [where, text] of places) {
      bytes += Buffer.byteLength(text);
      for (const [label, value] of secrets) {
        for (const form of [value, Buffer.from(value).toString('base64'), encodeURIComponent(value)]) {
          const at = text.indexOf(form);
          if (at >= 0)
            hits.push(`${label.split('#')[0] ?? label} (${value.length} chars) in ${where} at offset ${at}`);
        }
      }
    }
    console.info(
      `leak scan: ${secrets.size} secret values (${Object.keys(planted).length + 2} planted), ` +
        `${places.size} places, ${bytes} bytes, ${eventCount} Events, ${scanned.length} ApiCredentials`,
    );
    expect(secrets.size).toBeGreaterThan(Object.keys(planted).length + 6);
    expect(operator.logs().length).toBeGreaterThan(10_000);
    expect(hits).toEqual([]);
  }, 600_000);
});
