// Every provider's response parsing, fed hostile answers through the real response object: random
// JSON, wrong types, huge and broken strings, deep nesting, prototype keys, truncated bodies,
// 1e309 and negative expiries, content types that lie, and servers that echo the secrets they were
// sent. Property (hostile.ts `settle`): a valid token set or a clear ProviderError, never another
// exception, never a hang, never a planted secret in a message.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../policy/clock.ts';
import { MAX_LIFETIME_MS } from '../policy/expiry.ts';
import { MapInputs, MemoryState } from '../../test/providers/context.ts';
import {
  FUZZ_NOW,
  InputCounter,
  echoes,
  ScriptedHttp,
  hostileAnswer,
  hostileBody,
  hostileJwt,
  hostileValue,
  mutatedObject,
  objectText,
  plantedSecret,
  plausibleJwt,
  settle,
  type FieldSpec,
  type RawAnswer,
} from '../../test/unit/fuzz/hostile.ts';
import { login } from './idempiere-login.ts';
import { IdempiereProvider, idempiereSchema } from './idempiere.ts';
import { IdmpCloudProvider, idmpCloudSchema } from './idmp-cloud.ts';
import { IdmpProvider, idmpSchema } from './idmp.ts';
import { InsightsHubProvider, insightsHubSchema } from './insights-hub.ts';
import { OAuth2Provider, oauth2Schema } from './oauth2.ts';
import { TapdataProvider, tapdataSchema } from './tapdata.ts';
import type { HttpClient } from '../http/client.ts';
import type { ProviderContext, TokenSet } from './types.ts';

// Fixed for CI; FUZZ_SEED explores other inputs locally.
const SEED = Number(process.env.FUZZ_SEED ?? 20260101);
const KEYS = { token: 'token', tokenType: 'token_type', expiresAt: 'expires_in_at' };
const counter = new InputCounter();
let properties = 0;

afterAll(() => {
  // The numbers the reliability report quotes.
  console.info(
    `providers fuzz: ${properties} properties, ${counter.total} inputs, ${echoes.count} provider messages quoting a known secret before redaction`,
  );
});

function contextFor(
  inputs: Record<string, string>,
  http: HttpClient,
  extra: Partial<ProviderContext> = {},
): ProviderContext {
  return {
    credential: 'fuzz-ns/fuzz-credential',
    inputs: new MapInputs(inputs),
    state: new MemoryState(),
    http,
    clock: new ManualClock(FUZZ_NOW),
    signal: new AbortController().signal,
    keys: KEYS,
    ...extra,
  };
}

/** What a success must look like, whatever came in. */
function checkTokenSet(tokens: TokenSet): void {
  for (const [key, value] of Object.entries(tokens.data)) {
    expect(typeof value, `data.${key}`).toBe('string');
  }
  expect(Number.isFinite(tokens.issuedAt)).toBe(true);
  expect(Number.isFinite(tokens.expiresAt)).toBe(true);
  expect(tokens.expiresAt).toBeGreaterThan(FUZZ_NOW);
  expect(tokens.expiresAt - FUZZ_NOW).toBeLessThanOrEqual(MAX_LIFETIME_MS);
  const stated = tokens.data[KEYS.expiresAt];
  if (stated !== undefined) expect(Date.parse(stated)).toBe(tokens.expiresAt);
}

/** A token value, valid or not: planted opaque strings, JWTs around now, JWTs with hostile claims. */
function tokenValue(token: string, secrets: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(JSON.stringify(token)) },
    { weight: 2, arbitrary: plausibleJwt().map((jwt) => JSON.stringify(jwt)) },
    { weight: 2, arbitrary: hostileJwt(secrets).map((jwt) => JSON.stringify(jwt)) },
  );
}

function oauthTokenFields(token: string, secrets: readonly string[]): FieldSpec[] {
  return [
    { name: 'access_token', valid: tokenValue(token, secrets) },
    { name: 'token_type', valid: fc.constantFrom('"Bearer"', '"bearer"', '"DPoP"') },
    { name: 'expires_in', valid: fc.constantFrom('300', '"1209600"', '3600', '59.5') },
  ];
}

interface Planted {
  secret: string;
  token: string;
  /** What a person pasted as an IDMP cloud Bearer value: the token, decorated or mangled. */
  pasted: string;
}

const planted: fc.Arbitrary<Planted> = fc
  .record({
    secret: plantedSecret('S3cr3t'),
    // Access tokens are JWTs or long opaque strings; a short one would be indistinguishable from prose.
    token: plantedSecret('T0ken', 32),
  })
  .chain(({ secret, token }) =>
    fc
      .oneof(
        fc.constant(token),
        fc.constant(`Bearer ${token}\n`),
        fc.constant(`${token} trailing words`),
        plausibleJwt(),
        hostileJwt([token]),
        fc.string({ unit: 'binary', maxLength: 40 }),
      )
      .map((pasted) => ({ secret, token, pasted })),
  );

/**
 * One property: `answers(secrets)` builds the script of answers for one call, `call` makes it.
 * Returns after fc.assert so the test fails with the shrunk counterexample.
 */
async function fuzz(
  numRuns: number,
  answers: (p: Planted, secrets: readonly string[]) => fc.Arbitrary<RawAnswer[]>,
  call: (http: ScriptedHttp, p: Planted) => Promise<TokenSet | string>,
): Promise<{ ok: number; failed: number }> {
  properties += 1;
  const seen = { ok: 0, failed: 0 };
  await fc.assert(
    fc.asyncProperty(
      planted.chain((p) => answers(p, [p.secret, p.token]).map((script) => ({ p, script }))),
      async ({ p, script }) => {
        counter.add();
        const http = new ScriptedHttp(script);
        const outcome = await settle(() => call(http, p), { known: [p.secret], unknown: [p.token] });
        if (outcome.ok) {
          seen.ok += 1;
          if (typeof outcome.value !== 'string') checkTokenSet(outcome.value);
        } else {
          seen.failed += 1;
        }
      },
    ),
    { seed: SEED, numRuns },
  );
  return seen;
}

const script = (...parts: fc.Arbitrary<RawAnswer>[]): fc.Arbitrary<RawAnswer[]> => fc.tuple(...parts);

describe('oauth2 and tapdata token responses (RFC 6749 §5)', () => {
  it('client_secret_basic against a token URL', async () => {
    const provider = new OAuth2Provider();
    const spec = oauth2Schema.parse({
      tokenUrl: 'https://idp.test/token',
      credentialsRef: { name: 'creds' },
    });
    const seen = await fuzz(
      300,
      (p, secrets) =>
        script(
          hostileAnswer(hostileBody(mutatedObject(oauthTokenFields(p.token, secrets), secrets), secrets)),
        ),
      (http, p) =>
        provider.obtain(
          spec,
          contextFor({ 'creds/client_id': 'client-a', 'creds/client_secret': p.secret }, http),
        ),
    );
    // Both sides of the property were exercised.
    expect(seen.ok).toBeGreaterThan(10);
    expect(seen.failed).toBeGreaterThan(10);
  });

  it('issuer discovery, then the token endpoint, then revocation', async () => {
    const discovery: FieldSpec[] = [
      { name: 'issuer', valid: fc.constant('"https://idp.test"') },
      {
        name: 'token_endpoint',
        valid: fc.constantFrom('"https://idp.test/token"', '"http://idp.test:8080/t?x=1"'),
      },
      { name: 'revocation_endpoint', valid: fc.constant('"https://idp.test/revoke"') },
    ];
    const spec = oauth2Schema.parse({
      issuerUrl: 'https://idp.test',
      clientAuth: 'client_secret_post',
      credentialsRef: { name: 'creds' },
    });
    await fuzz(
      250,
      (p, secrets) =>
        script(
          hostileAnswer(hostileBody(mutatedObject(discovery, secrets), secrets)),
          hostileAnswer(hostileBody(mutatedObject(oauthTokenFields(p.token, secrets), secrets), secrets)),
          hostileAnswer(hostileBody(mutatedObject(discovery, secrets), secrets)),
          hostileAnswer(hostileBody(fc.constant('{}'), secrets)),
        ),
      async (http, p) => {
        // A new provider each run: discovery is cached per issuer.
        const provider = new OAuth2Provider();
        const inputs = { 'creds/client_id': 'client-a', 'creds/client_secret': p.secret };
        const tokens = await provider.obtain(spec, contextFor(inputs, http));
        const current = { data: { token: p.token }, issuedAt: FUZZ_NOW, expiresAt: FUZZ_NOW + 60_000 };
        return provider
          .release(spec, contextFor(inputs, http, { current, clock: new ManualClock(FUZZ_NOW + 7_200_000) }))
          .then(() => tokens);
      },
    );
  });

  it('tapdata, form and JSON bodies', async () => {
    const provider = new TapdataProvider();
    const specs = [
      tapdataSchema.parse({ baseUrl: 'http://tapdata.test:3030/', credentialsRef: { name: 'creds' } }),
      tapdataSchema.parse({
        baseUrl: 'http://tapdata.test',
        credentialsRef: { name: 'creds' },
        bodyFormat: 'json',
      }),
    ];
    let run = 0;
    await fuzz(
      300,
      (p, secrets) =>
        script(
          hostileAnswer(hostileBody(mutatedObject(oauthTokenFields(p.token, secrets), secrets), secrets)),
        ),
      (http, p) => {
        run += 1;
        const spec = specs[run % 2] ?? specs[0];
        if (!spec) throw new Error('no spec');
        return provider.obtain(
          spec,
          contextFor({ 'creds/client_id': 'client-a', 'creds/client_secret': p.secret }, http),
        );
      },
    );
  });
});

describe('TDengine IDMP', () => {
  it('enterprise login answers, bare and in the {code,data} envelope', async () => {
    const provider = new IdmpProvider();
    const spec = idmpSchema.parse({ baseUrl: 'http://idmp.test:6042', credentialsRef: { name: 'creds' } });
    const token = (p: Planted, secrets: readonly string[]): fc.Arbitrary<string> =>
      tokenValue(p.token, secrets);
    await fuzz(
      300,
      (p, secrets) =>
        script(
          hostileAnswer(
            hostileBody(
              fc.oneof(
                mutatedObject([{ name: 'token', valid: token(p, secrets) }], secrets),
                mutatedObject(
                  [
                    { name: 'code', valid: fc.constantFrom('0', '200', '401', '"500"') },
                    { name: 'message', valid: fc.constantFrom('"ok"', '"Captcha verification is required"') },
                    {
                      name: 'data',
                      valid: mutatedObject([{ name: 'token', valid: token(p, secrets) }], secrets),
                    },
                  ],
                  secrets,
                ),
              ),
              secrets,
            ),
          ),
        ),
      (http, p) =>
        provider.obtain(
          spec,
          contextFor({ 'creds/username': 'admin', 'creds/password': p.secret }, http, {
            assumedLifetimeMs: 3_600_000,
          }),
        ),
    );
  });

  it('cloud token check, with pasted values that may be garbage too', async () => {
    const provider = new IdmpCloudProvider();
    const spec = idmpCloudSchema.parse({
      baseUrl: 'https://abc.idmp.taosdata.com',
      tokensRef: { name: 'pasted' },
    });
    await fuzz(
      300,
      (_p, secrets) =>
        script(
          hostileAnswer(
            hostileBody(
              mutatedObject(
                [
                  { name: 'code', valid: fc.constantFrom('0', '200', '401', '403') },
                  { name: 'message', valid: fc.constant('"success"') },
                  { name: 'data', valid: fc.constant('{"records":[]}') },
                ],
                secrets,
              ),
              secrets,
            ),
          ),
        ),
      (http, p) =>
        provider.obtain(
          spec,
          contextFor({ 'pasted/bearer_token': p.pasted, 'pasted/access_token': p.secret }, http),
        ),
    );
  });
});

describe('Siemens Insights Hub Technical Token Manager', () => {
  const base = {
    baseUrl: 'https://gateway.eu1.mindsphere.io',
    credentialsRef: { name: 'creds' },
    appName: 'app',
    appVersion: '1.0.0',
    hostTenant: 'host',
  };
  const tokenFields = (p: Planted, secrets: readonly string[]): FieldSpec[] => [
    ...oauthTokenFields(p.token, secrets),
    {
      name: 'timestamp',
      valid: fc.constantFrom(String(FUZZ_NOW), JSON.stringify(String(FUZZ_NOW - 60_000))),
    },
    { name: 'scope', valid: fc.constant('"mdsp:core:Admin"') },
  ];
  const inputs = (p: Planted): Record<string, string> => ({
    'creds/client_id': 'app-client',
    'creds/client_secret': p.secret,
  });

  it('one tenant: oauth/token', async () => {
    const provider = new InsightsHubProvider();
    const spec = insightsHubSchema.parse({ ...base, userTenants: ['tenant-a'] });
    await fuzz(
      250,
      (p, secrets) =>
        script(hostileAnswer(hostileBody(mutatedObject(tokenFields(p, secrets), secrets), secrets))),
      (http, p) => provider.obtain(spec, contextFor(inputs(p), http)),
    );
  });

  it('a tenant list in batches: oauthTokens entries', async () => {
    const provider = new InsightsHubProvider();
    const spec = insightsHubSchema.parse({ ...base, userTenants: ['t1', 't2', 't3'], batchSize: 2 });
    const entry = (tenant: string, p: Planted, secrets: readonly string[]): fc.Arbitrary<string> =>
      mutatedObject(
        [
          { name: 'userTenantId', valid: fc.constant(JSON.stringify(tenant)) },
          {
            name: 'token',
            valid: fc.oneof(
              mutatedObject(tokenFields(p, secrets), secrets),
              fc.constant('{"errors":[{"code":"mdsp.core.generic.forbidden","message":"no"}]}'),
            ),
          },
        ],
        secrets,
      );
    const body = (p: Planted, secrets: readonly string[]): fc.Arbitrary<string> =>
      fc
        .array(
          fc.constantFrom('t1', 't2', 't3', 'other').chain((tenant) => entry(tenant, p, secrets)),
          { maxLength: 4 },
        )
        .chain((entries) =>
          fc.constantFrom(`[${entries.join(',')}]`, objectText([['oauthTokens', `[${entries.join(',')}]`]])),
        );
    await fuzz(
      250,
      (p, secrets) =>
        script(
          hostileAnswer(hostileBody(body(p, secrets), secrets)),
          hostileAnswer(hostileBody(body(p, secrets), secrets)),
        ),
      (http, p) => provider.obtain(spec, contextFor(inputs(p), http)),
    );
  });

  it('allUserTenants: host token, userTenants pages, then batches', async () => {
    const provider = new InsightsHubProvider();
    const spec = insightsHubSchema.parse({ ...base, allUserTenants: true, batchSize: 5 });
    const page = (secrets: readonly string[]): fc.Arbitrary<string> =>
      mutatedObject(
        [
          {
            name: 'page',
            valid: mutatedObject([{ name: 'totalPages', valid: fc.constantFrom('1', '2', '0') }], secrets),
          },
          {
            name: 'userTenants',
            valid: fc.constantFrom(
              '[{"id":"t1"},{"id":"t2"}]',
              '[]',
              '[{"id":"t1"},{"id":""}]',
              '[{"name":"x"}]',
            ),
          },
        ],
        secrets,
      );
    await fuzz(
      200,
      (p, secrets) =>
        script(
          hostileAnswer(hostileBody(mutatedObject(tokenFields(p, secrets), secrets), secrets), 10),
          hostileAnswer(hostileBody(page(secrets), secrets), 10),
          hostileAnswer(hostileBody(page(secrets), secrets)),
          hostileAnswer(hostileBody(fc.constant('{"oauthTokens":[]}'), secrets)),
        ),
      (http, p) => provider.obtain(spec, contextFor(inputs(p), http)),
    );
  });
});

describe('iDempiere REST', () => {
  const credentials = (p: Planted) => ({
    username: 'SuperUser',
    password: p.secret,
    where: 'Secret fuzz-ns/creds',
  });
  const session = (p: Planted, secrets: readonly string[]): FieldSpec[] => [
    {
      name: 'token',
      valid: fc.oneof(
        plausibleJwt({ AD_Client_ID: 11, AD_User_ID: 100 }).map((t) => JSON.stringify(t)),
        tokenValue(p.token, secrets),
      ),
    },
    { name: 'refresh_token', valid: fc.constant(JSON.stringify(p.token.split('').reverse().join(''))) },
    { name: 'clientId', valid: fc.constantFrom('11', '"11"') },
    { name: 'userId', valid: fc.constantFrom('100', '"100"') },
  ];
  const secretsOf = (p: Planted): string[] => [p.secret, p.token, p.token.split('').reverse().join('')];

  it('one-step login with ids', async () => {
    const spec = idempiereSchema.parse({
      baseUrl: 'http://idempiere.test:8080/api/v1',
      credentialsRef: { name: 'creds' },
      login: { client: 11, role: 102, organization: 11, warehouse: 103 },
    });
    await fuzz(
      250,
      (p) => {
        const secrets = secretsOf(p);
        return script(
          hostileAnswer(hostileBody(mutatedObject(session(p, secrets), secrets), secrets)),
          hostileAnswer(
            hostileBody(fc.constant('{"token":"x","clients":[{"id":11,"name":"GardenWorld"}]}'), secrets),
          ),
        );
      },
      async (http, p) => {
        const result = await login(spec, contextFor({}, http), credentials(p));
        return `${result.clientId}/${result.userId}`;
      },
    );
  });

  it('step-by-step login with names', async () => {
    const spec = idempiereSchema.parse({
      baseUrl: 'http://idempiere.test:8080',
      credentialsRef: { name: 'creds' },
      login: { client: 'GardenWorld', role: 'GardenWorld Admin', organization: 'HQ', language: 'en_US' },
    });
    const list = (key: string, names: string[], secrets: readonly string[]): fc.Arbitrary<string> =>
      mutatedObject(
        [
          {
            name: key,
            valid: fc.constantFrom(
              `[${names
                .map((name, index) =>
                  objectText([
                    ['id', String(11 + index)],
                    ['name', JSON.stringify(name)],
                  ]),
                )
                .join(',')}]`,
              `[${objectText([
                ['id', '"12"'],
                ['name', JSON.stringify(names[0] ?? '')],
              ])},${objectText([
                ['id', '12'],
                ['name', JSON.stringify(names[0] ?? '')],
              ])}]`,
              '[{"id":-1},{"name":"no id"},null,7]',
            ),
          },
        ],
        secrets,
      );
    await fuzz(
      250,
      (p) => {
        const secrets = secretsOf(p);
        return script(
          hostileAnswer(
            hostileBody(
              mutatedObject(
                [
                  { name: 'token', valid: plausibleJwt().map((t) => JSON.stringify(t)) },
                  {
                    name: 'clients',
                    valid: fc.constantFrom(
                      '[{"id":11,"name":"GardenWorld"}]',
                      '[{"id":11,"name":"GardenWorld"},{"id":12,"name":"gardenworld"}]',
                    ),
                  },
                ],
                secrets,
              ),
              secrets,
            ),
            10,
          ),
          hostileAnswer(hostileBody(list('roles', ['GardenWorld Admin', 'User'], secrets), secrets), 10),
          hostileAnswer(hostileBody(list('organizations', ['HQ', 'Store'], secrets), secrets), 10),
          hostileAnswer(hostileBody(list('warehouses', ['HQ Warehouse'], secrets), secrets), 10),
          hostileAnswer(hostileBody(mutatedObject(session(p, secrets), secrets), secrets)),
        );
      },
      async (http, p) => {
        const result = await login(spec, contextFor({}, http), credentials(p));
        return `${result.clientId}/${result.userId}`;
      },
    );
  });

  it('refresh of the single-use token, and logout', { timeout: 60_000 }, async () => {
    const provider = new IdempiereProvider();
    const spec = idempiereSchema.parse({
      baseUrl: 'http://idempiere.test:8080',
      credentialsRef: { name: 'creds' },
      login: { client: 11, role: 102, organization: 11, warehouse: 103 },
      logoutOnDelete: true,
    });
    // One real login per password (scrypt is slow on purpose), whose chain each run then refreshes.
    const password = 'S3cr3tIdempierePassword';
    const inputs = { 'creds/username': 'SuperUser', 'creds/password': password };
    const seedState = new MemoryState();
    const refreshToken = 'R3fr3shT0kenStoredInStateNeverToBeShownAnywhere';
    const jwt =
      fc.sample(plausibleJwt({ AD_Client_ID: 11, AD_User_ID: 100 }), { numRuns: 1, seed: SEED })[0] ?? '';
    await provider.obtain(
      spec,
      contextFor(
        inputs,
        new ScriptedHttp([
          {
            status: 200,
            headers: {},
            text: JSON.stringify({ token: jwt, refresh_token: refreshToken, clientId: 11, userId: 100 }),
          },
        ]),
        { state: seedState },
      ),
    );
    const stored = await seedState.read();
    await fuzz(
      25,
      (p) => {
        const secrets = [...secretsOf(p), password, refreshToken];
        return script(
          hostileAnswer(hostileBody(mutatedObject(session(p, secrets), secrets), secrets)),
          hostileAnswer(hostileBody(mutatedObject(session(p, secrets), secrets), secrets)),
          hostileAnswer(hostileBody(fc.constant('{}'), secrets)),
        );
      },
      async (http, p) => {
        const state = new MemoryState();
        state.externalWrite({ ...stored });
        const outcome = await settle(
          () => provider.obtain(spec, contextFor(inputs, http, { state, assumedLifetimeMs: 3_600_000 })),
          { known: [password], unknown: [p.token, refreshToken] },
        );
        const current = { data: { token: p.token }, issuedAt: FUZZ_NOW, expiresAt: FUZZ_NOW + 60_000 };
        await settle(() => provider.release(spec, contextFor(inputs, http, { current })), {
          known: [password, p.token],
          unknown: [refreshToken],
        });
        if (!outcome.ok) throw outcome.error;
        return outcome.value;
      },
    );
  });
});

describe('the fuzz run itself', () => {
  it('planted secrets are distinctive and hostile values cover the intended shapes', () => {
    const values = fc.sample(hostileValue(['S3cr3tXYZXYZXYZ']), { numRuns: 2_000, seed: 20260101 });
    expect(values).toContain('1e309');
    expect(values.some((value) => value.includes('__proto__'))).toBe(true);
    expect(values.some((value) => value.includes('S3cr3tXYZXYZXYZ'))).toBe(true);
  });
});
