// Every fault kind against every vendor's token route: what the client sees, and whether the server
// performed the operation (only the committing kinds may).
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/policy/clock.ts';
import { basicHeader, type Emulator, type ScriptedFault } from '../../emulators/common.ts';
import { GARDENWORLD_LOGINS, GW } from '../../emulators/idempiere-data.ts';
import { IDEMPIERE_ROUTES, IdempiereEmulator } from '../../emulators/idempiere.ts';
import { IDMP_DEFAULT_USER, IDMP_ROUTES, IdmpEmulator } from '../../emulators/idmp.ts';
import { InsightsHubEmulator, TTM_DEFAULT_APP } from '../../emulators/insights-hub.ts';
import { TAPDATA_DEFAULT_CLIENT, TAPDATA_ROUTES, TapdataEmulator } from '../../emulators/tapdata.ts';
import { fetchError } from './http.ts';

interface Subject {
  emulator: Emulator;
  route: string;
  /** The vendor's token call, as plain fetch arguments. */
  request(url: string): [string, RequestInit];
  /** Operations the server has performed so far. */
  performed(): number;
}

const json = (value: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(value),
});

function tapdata(): Subject {
  const emulator = new TapdataEmulator({ clock: new ManualClock() });
  return {
    emulator,
    route: TAPDATA_ROUTES.token,
    request: (url) => [
      `${url}/oauth/token`,
      {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: TAPDATA_DEFAULT_CLIENT.clientId,
          client_secret: TAPDATA_DEFAULT_CLIENT.clientSecret,
        }),
      },
    ],
    performed: () => emulator.issuedCount(),
  };
}

function idmp(): Subject {
  const emulator = new IdmpEmulator({ clock: new ManualClock() });
  return {
    emulator,
    route: IDMP_ROUTES.login,
    request: (url) => [
      `${url}/api/v1/users/login`,
      json({ login_name: IDMP_DEFAULT_USER.loginName, password: IDMP_DEFAULT_USER.password }),
    ],
    performed: () => emulator.issuedCount(),
  };
}

function insightsHub(): Subject {
  const emulator = new InsightsHubEmulator({ clock: new ManualClock() });
  const app = TTM_DEFAULT_APP;
  return {
    emulator,
    route: emulator.routes.token,
    request: (url) => [
      `${url}${emulator.basePath}/oauth/token`,
      json(
        {
          appName: app.appName,
          appVersion: app.appVersion,
          hostTenant: app.hostTenant,
          userTenant: 'usertenanta',
        },
        { 'x-space-auth-key': basicHeader(app.clientId, app.clientSecret) },
      ),
    ],
    performed: () => emulator.issuedCount(),
  };
}

function idempiere(): Subject {
  const emulator = new IdempiereEmulator({ clock: new ManualClock() });
  const user = GARDENWORLD_LOGINS.multiStep;
  return {
    emulator,
    route: IDEMPIERE_ROUTES.login,
    request: (url) => [
      `${url}/api/v1/auth/tokens`,
      json({
        userName: user.userName,
        password: user.password,
        parameters: { clientId: GW.client, roleId: GW.adminRole, organizationId: GW.hq },
      }),
    ],
    performed: () => emulator.sessionCount(),
  };
}

let current: Subject | undefined;

afterEach(async () => {
  await current?.emulator.stop();
  current = undefined;
});

describe.each([
  ['TapData', tapdata],
  ['IDMP', idmp],
  ['Insights Hub', insightsHub],
  ['iDempiere', idempiere],
])('%s token route', (_name, make) => {
  it('shows each fault kind to the client, and commits only for the committing kinds', async () => {
    const subject = make();
    current = subject;
    const { url } = await subject.emulator.start();
    const call = () => fetch(...subject.request(url));
    const script = (fault: ScriptedFault) => subject.emulator.faults.push(subject.route, fault);

    expect((await call()).status).toBe(200);
    expect(subject.performed()).toBe(1);

    script({ kind: 'status', status: 503, retryAfter: 12, body: { error: 'unavailable' } });
    const unavailable = await call();
    expect([unavailable.status, unavailable.headers.get('retry-after')]).toEqual([503, '12']);

    script({ kind: 'delay', ms: 5 });
    expect((await call()).status).toBe(200);
    expect(subject.performed()).toBe(2);

    script({ kind: 'invalid-json' });
    const garbled = await (await call()).text();
    expect(() => JSON.parse(garbled) as unknown).toThrow();

    script({ kind: 'html', status: 502 });
    const html = await call();
    expect([html.status, html.headers.get('content-type')]).toEqual([502, 'text/html']);

    script({ kind: 'truncated' });
    expect(await fetchError((await call()).text())).toBeInstanceOf(Error);

    script({ kind: 'reset' });
    expect(await fetchError(call())).toBeInstanceOf(Error);
    expect(subject.performed()).toBe(2);

    script({ kind: 'commit-then-drop' });
    expect(await fetchError(call())).toBeInstanceOf(Error);
    expect(subject.performed()).toBe(3);

    expect(subject.emulator.count(subject.route)).toBe(8);
    expect(subject.emulator.requests().map((entry) => entry.fault ?? 'none')).toEqual([
      'none',
      'status',
      'delay',
      'invalid-json',
      'html',
      'truncated',
      'reset',
      'commit-then-drop',
    ]);
  });
});
