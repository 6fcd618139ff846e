// AuthServiceImpl's login logic: step 1 (normal or abbreviated), the one-step login and PUT through
// processLoginParameters, and the step-1 lookups. Response key order follows the plugin's Gson code.
import type { Clock } from '../../src/policy/clock.ts';
import type { Directory, IdRole } from './idempiere-data.ts';
import { authenticateError, minutesFrom, type IdempiereKnobs } from './idempiere-config.ts';
import type { JavaJwt } from './idempiere-jwt.ts';
import { empty, json, stringField, type Reply } from './http.ts';
import { epochSeconds, type JsonObject } from './jwt.ts';

export interface LoginParameters {
  clientId?: string;
  roleId?: string;
  organizationId?: string;
  warehouseId?: string;
  language?: string;
}

/** What the login code needs from the emulator. */
export interface LoginEnv {
  readonly directory: Directory;
  readonly knobs: IdempiereKnobs;
  readonly jwt: JavaJwt;
  readonly clock: Clock;
  /** Creates an AD_Session and returns its id. */
  newSession(): number;
  /** Persists a REST_RefreshToken row for `token` and returns the new refresh JWT. */
  refreshTokenFor(token: string, parent: string | null, absoluteExpiresAt: number | null | undefined): string;
}

export function loginParameters(record: Record<string, unknown>): LoginParameters {
  const out: LoginParameters = {};
  for (const key of ['clientId', 'roleId', 'organizationId', 'warehouseId', 'language'] as const) {
    const value = stringField(record, key);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The access token's `exp`, or undefined when REST_TOKEN_EXPIRE_IN_MINUTES is 0. */
export function accessExp(env: LoginEnv): number | undefined {
  const at = minutesFrom(env.clock.now(), env.knobs.tokenExpireMinutes);
  return at === null ? undefined : epochSeconds(at);
}

/** Signs the session token and adds `token` and `refresh_token` to the response, in that order. */
function finishSession(env: LoginEnv, response: JsonObject, claims: JsonObject): Reply {
  const token = env.jwt.sign(claims, accessExp(env));
  response.token = token;
  const absolute = minutesFrom(env.clock.now(), env.knobs.absoluteExpireMinutes);
  response.refresh_token = env.refreshTokenFor(token, null, absolute);
  return json(200, response);
}

function isValidClient(clientId: number, clients: string): boolean {
  return clientId >= 0 && clients !== '' && clients.split(',').some((id) => Number(id) === clientId);
}

function menuTreeId(env: LoginEnv, role: IdRole | undefined, clientId: number): number {
  if (role?.menuTreeId && role.menuTreeId > 0) return role.menuTreeId;
  return env.directory.client(clientId)?.menuTreeId ?? 0;
}

function preferenceLanguage(env: LoginEnv, userName: string, clientId: number): string {
  return env.directory.user(userName)?.language ?? env.directory.client(clientId)?.language ?? 'en_US';
}

/** `validateLoginParameters`: an error message, or undefined when the combination is valid. */
function validate(
  env: LoginEnv,
  userName: string,
  clientId: number,
  roleId: number,
  orgId: number,
  warehouseId: number,
) {
  const { directory } = env;
  const role = directory.rolesFor(userName, clientId).find((r) => r.id === roleId);
  if (roleId < 0 || !role) return 'Invalid roleId';
  if (orgId < 0 || !directory.orgsFor(userName, role).some((org) => org.id === orgId))
    return 'Invalid organizationId';
  if (orgId > 0 && warehouseId > 0 && !directory.warehousesFor(orgId).some((w) => w.id === warehouseId)) {
    return 'Invalid warehouseId';
  }
  // Login.validateLogin: model validators may veto the session.
  const veto = directory.user(userName)?.loginError;
  return veto === undefined || veto === '' ? undefined : veto;
}

/** `POST /api/v1/auth/tokens`. */
export function authenticate(env: LoginEnv, body: Record<string, unknown>): Reply {
  const userName = typeof body.userName === 'string' ? body.userName : undefined;
  const password = typeof body.password === 'string' ? body.password : undefined;
  const check = env.directory.login(userName, password);
  if (!check.ok) return authenticateError(check.message ?? env.knobs.failedLoginMessage);
  if (userName === undefined) return authenticateError(env.knobs.failedLoginMessage);
  const clients = check.clients.map((client) => client.id).join(',');
  const parameters = body.parameters;
  if (typeof parameters === 'object' && parameters !== null && !Array.isArray(parameters)) {
    return processLoginParameters(
      env,
      loginParameters(parameters as Record<string, unknown>),
      userName,
      clients,
    );
  }

  const response: JsonObject = {
    clients: check.clients.map((client) => ({ id: client.id, name: client.name })),
  };
  const claims: JsonObject = { sub: userName, Clients: clients };
  let session = false;
  const only = check.clients.length === 1 ? check.clients[0] : undefined;
  const roles = only ? env.directory.rolesFor(userName, only.id) : [];
  const role = roles.length === 1 ? roles[0] : undefined;
  const user = env.directory.user(userName);
  if (only && role && user) {
    // Abbreviated login: exactly one client, one role and one org; otherwise fall through silently.
    const orgId = env.directory.onlyOrg(userName, role);
    const warehouseId = orgId >= 0 ? (env.directory.org(orgId)?.warehouseId ?? 0) : 0;
    if (validate(env, userName, only.id, role.id, orgId, warehouseId) === undefined) {
      claims.AD_Client_ID = only.id;
      response.clientId = only.id;
      claims.AD_User_ID = user.id;
      response.userId = user.id;
      claims.AD_Role_ID = role.id;
      response.roleId = role.id;
      claims.AD_Org_ID = orgId;
      response.organizationId = orgId;
      if (orgId > 0 && warehouseId > 0) {
        claims.M_Warehouse_ID = warehouseId;
        response.warehouseId = warehouseId;
      }
      const language = preferenceLanguage(env, userName, only.id);
      claims.AD_Language = language;
      response.language = language;
      claims.AD_Session_ID = env.newSession();
      if (env.knobs.menuTreeIdInResponse) response.menuTreeId = menuTreeId(env, role, only.id);
      session = true;
    }
  }
  if (session) return finishSession(env, response, claims);
  // Normal step 1: a token good only for /api/v1/auth/*, and no refresh token.
  response.token = env.jwt.sign(claims, accessExp(env));
  return json(200, response);
}

const NONE = -1;
const NOT_FOUND = -2;
const NOT_UNIQUE = -3;
const isNumeric = (s: string) => /^\d+$/.test(s);
const isEmpty = (s: string | undefined): s is undefined => s === undefined || s === '';

/** `processLoginParameters`: shared by the one-step login and `PUT /api/v1/auth/tokens`. */
export function processLoginParameters(
  env: LoginEnv,
  parameters: LoginParameters,
  userName: string,
  clients: string,
): Reply {
  const { directory } = env;
  const response: JsonObject = {};
  const claims: JsonObject = { sub: userName };

  // Ids accepted as given are not echoed; values resolved by name, or defaulted, are.
  let clientId = NONE;
  const clientParam = parameters.clientId;
  if (!isEmpty(clientParam)) {
    const s = clientParam.trim();
    if (isNumeric(s) && directory.client(Number(s))) clientId = Number(s);
    else {
      const byValue = directory.activeClientByValue(s);
      if (!byValue) return authenticateError('Client value not found');
      clientId = byValue.id;
      response.clientId = clientId;
    }
  }
  let validClient = false;
  if (clientId === NONE) {
    if (clients !== '' && !clients.includes(',')) {
      clientId = Number(clients);
      response.clientId = clientId;
      validClient = true;
    }
  } else validClient = isValidClient(clientId, clients);
  if (!validClient) return authenticateError('Invalid clientId');

  const user = directory.user(userName);
  if (!user) return empty(500); // MUser.get → null → NullPointerException
  claims.AD_Client_ID = clientId;
  claims.AD_User_ID = user.id;
  response.userId = user.id;
  let language = preferenceLanguage(env, userName, clientId);

  const roleLookup = lookup(
    parameters.roleId,
    (s) => directory.role(Number(s)) !== undefined,
    (s) => directory.activeRolesNamed(clientId, s),
  );
  let roleId = roleLookup.id;
  if (roleId === NOT_FOUND) return authenticateError('Role name not found');
  if (roleId === NOT_UNIQUE) return authenticateError('Role name not unique');
  if (roleLookup.byName) response.roleId = roleId;
  if (roleId === NONE) {
    const roles = directory.rolesFor(userName, clientId);
    if (roles.length === 0) return empty(500); // Login.getRoles → null → NullPointerException
    if (roles.length !== 1 || !roles[0]) return authenticateError('Missing roleId parameter');
    roleId = roles[0].id;
    response.roleId = roleId;
  }

  const orgLookup = lookup(
    parameters.organizationId,
    (s) => directory.org(Number(s)) !== undefined,
    (s) => directory.activeOrgsNamed(clientId, s),
  );
  let orgId = orgLookup.id;
  if (orgId === NOT_FOUND) return authenticateError('Organization name not found');
  if (orgId === NOT_UNIQUE) return authenticateError('Organization name not unique');
  if (orgLookup.byName) response.organizationId = orgId;
  if (orgId === NONE) {
    const role = directory.role(roleId);
    orgId = role ? directory.onlyOrg(userName, role) : NONE;
    if (orgId === 0) return authenticateError('Missing organizationId parameter');
    // Several orgs leave -1 here; validation below then answers "Invalid organizationId".
    response.organizationId = orgId;
  }

  // Warehouse names are looked up with firstId(), so duplicates are not an error.
  const warehouseLookup = lookup(
    parameters.warehouseId,
    (s) => Number(s) === 0 || directory.warehouse(Number(s)) !== undefined,
    (s) => directory.activeWarehousesNamed(clientId, s).slice(0, 1),
  );
  let warehouseId = warehouseLookup.id;
  if (warehouseId === NOT_FOUND) return authenticateError('Warehouse name not found');
  if (warehouseLookup.byName) response.warehouseId = warehouseId;
  if (warehouseId === NONE && orgId > 0) {
    const fallback = directory.org(orgId)?.warehouseId ?? 0;
    if (fallback > 0) {
      warehouseId = fallback;
      response.warehouseId = warehouseId;
    }
  }

  const error = validate(env, userName, clientId, roleId, orgId, warehouseId);
  if (error) return authenticateError(error);
  claims.AD_Role_ID = roleId;
  claims.AD_Org_ID = orgId;
  if (orgId > 0 && warehouseId > 0) claims.M_Warehouse_ID = warehouseId;
  if (parameters.language !== undefined && directory.loginLanguages.includes(parameters.language)) {
    language = parameters.language;
  }
  claims.AD_Language = language;
  response.language = language;
  claims.AD_Session_ID = env.newSession();
  if (env.knobs.menuTreeIdInResponse) response.menuTreeId = menuTreeId(env, directory.role(roleId), clientId);
  return finishSession(env, response, claims);
}

/**
 * getRoleId/getOrganizationId/getWarehouseId: NONE, NOT_FOUND, NOT_UNIQUE or the id; `byName` when
 * it was resolved through a name or value (and is therefore echoed).
 */
function lookup(
  param: string | undefined,
  idExists: (s: string) => boolean,
  byName: (s: string) => { id: number }[],
): { id: number; byName: boolean } {
  if (isEmpty(param)) return { id: NONE, byName: false };
  const s = param.trim();
  if (isNumeric(s) && idExists(s)) return { id: Number(s), byName: false };
  const matches = byName(s);
  if (matches.length > 1) return { id: NOT_UNIQUE, byName: false };
  const match = matches[0];
  return match ? { id: match.id, byName: true } : { id: NOT_FOUND, byName: false };
}

/** The step-1 lookups: `GET /api/v1/auth/roles|organizations|warehouses`. */
export function lookupOptions(
  env: LoginEnv,
  kind: 'roles' | 'organizations' | 'warehouses',
  userName: string,
  clients: string,
  ids: { client: number; role: number; organization: number },
): Reply {
  const { directory } = env;
  if (!isValidClient(ids.client, clients)) return authenticateError('Invalid client');
  const roles = directory.rolesFor(userName, ids.client);
  if (kind === 'roles') return json(200, { roles: roles.map((r) => ({ id: r.id, name: r.name })) });
  const role = ids.role >= 0 ? roles.find((r) => r.id === ids.role) : undefined;
  if (!role) return authenticateError('Invalid role');
  const orgs = directory.orgsFor(userName, role);
  if (kind === 'organizations')
    return json(200, { organizations: orgs.map((o) => ({ id: o.id, name: o.name })) });
  if (ids.organization < 0 || !orgs.some((o) => o.id === ids.organization)) {
    return authenticateError('Invalid organization');
  }
  const warehouses = directory.warehousesFor(ids.organization);
  return json(200, { warehouses: warehouses.map((w) => ({ id: w.id, name: w.name })) });
}
