// iDempiere REST login: the one-step login when every session parameter is an id, otherwise the
// step-by-step flow (step 1, the lookups, PUT), which also turns names into ids and, when a value
// matches nothing or several choices, says which spec field is wrong and lists what there is.
import type { IdempiereSpec } from './idempiere.ts';
import type { HttpResponse } from '../http/client.ts';
import { ProviderError } from '../errors/failure.ts';
import { excerpt } from '../errors/excerpt.ts';
import {
  FIELD,
  errorBody,
  isAuthenticateError,
  jsonObject,
  numberField,
  requireSession,
  said,
  send,
  sessionFrom,
  stringField,
  target,
  unexpectedAnswer,
  type Call,
  type Session,
} from './idempiere-api.ts';
import type { ProviderContext } from './types.ts';

export interface Credentials {
  username: string;
  password: string;
  /** "Secret ns/name (keys username, password)", for messages. */
  where: string;
}

type ChoiceField = 'client' | 'role' | 'organization' | 'warehouse';
type Value = number | string | undefined;

interface Choice {
  id: number;
  name: string;
}

const PLURAL: Record<ChoiceField, string> = {
  client: 'clients',
  role: 'roles',
  organization: 'organizations',
  warehouse: 'warehouses',
};
const MAX_LISTED = 25;

// What processLoginParameters answers about session parameters (vendor notes §1.2), by spec field.
const PARAMETER_DETAILS: Record<string, { field: ChoiceField; reason: string }> = {
  'Client value not found': { field: 'client', reason: 'LoginChoiceNotFound' },
  'Invalid clientId': { field: 'client', reason: 'LoginChoiceNotFound' },
  'Role name not found': { field: 'role', reason: 'LoginChoiceNotFound' },
  'Role name not unique': { field: 'role', reason: 'LoginChoiceAmbiguous' },
  'Missing roleId parameter': { field: 'role', reason: 'LoginChoiceAmbiguous' },
  'Invalid roleId': { field: 'role', reason: 'LoginChoiceNotFound' },
  'Organization name not found': { field: 'organization', reason: 'LoginChoiceNotFound' },
  'Organization name not unique': { field: 'organization', reason: 'LoginChoiceAmbiguous' },
  'Missing organizationId parameter': { field: 'organization', reason: 'LoginChoiceAmbiguous' },
  'Invalid organizationId': { field: 'organization', reason: 'LoginChoiceNotFound' },
  'Warehouse name not found': { field: 'warehouse', reason: 'LoginChoiceNotFound' },
  'Invalid warehouseId': { field: 'warehouse', reason: 'LoginChoiceNotFound' },
};

function parameterDetail(
  response: HttpResponse,
): { field: ChoiceField; reason: string; detail: string } | undefined {
  if (!isAuthenticateError(response)) return undefined;
  const detail = errorBody(response).detail ?? '';
  const known = PARAMETER_DETAILS[detail];
  return known ? { ...known, detail } : undefined;
}

const label = (choice: Choice): string => `${excerpt(choice.name, 80)} (${choice.id})`;

function listed(choices: Choice[]): string {
  const shown = choices.slice(0, MAX_LISTED).map(label).join(', ');
  return choices.length > MAX_LISTED ? `${shown} and ${choices.length - MAX_LISTED} more` : shown;
}

const shown = (value: number | string): string =>
  typeof value === 'number' ? String(value) : JSON.stringify(excerpt(value, 80));

/** Refused credentials (or a session the server vetoed): retrying cannot help until something changes. */
function loginFailed(
  spec: IdempiereSpec,
  call: Call,
  response: HttpResponse,
  credentials: Credentials,
): ProviderError {
  const detail = errorBody(response).detail ?? said(response);
  return new ProviderError({
    kind: 'terminal',
    reason: 'LoginFailed',
    message:
      `iDempiere refused the login of user ${JSON.stringify(excerpt(credentials.username, 80))} ` +
      `(${target(spec, call)} answered 401: ${detail}). Check the user name and password in ${credentials.where}; ` +
      'a locked or inactive account, or a role that is not of type WebService or empty, needs an iDempiere administrator.',
    httpStatus: 401,
    providerCode: 'Authenticate error',
  });
}

/** A 200 answer's body, or the error for anything else. */
async function answer(
  spec: IdempiereSpec,
  context: ProviderContext,
  call: Call,
  credentials: Credentials,
): Promise<Record<string, unknown>> {
  const response = await send(spec, context, call);
  if (response.status === 200) return jsonObject(spec, call, response);
  if (isAuthenticateError(response)) {
    const parameter = parameterDetail(response);
    if (parameter) throw refusedParameter(spec, parameter);
    throw loginFailed(spec, call, response, credentials);
  }
  throw unexpectedAnswer(spec, call, response);
}

function refusedParameter(
  spec: IdempiereSpec,
  parameter: { field: ChoiceField; reason: string; detail: string },
): ProviderError {
  const value = spec.login[parameter.field];
  return new ProviderError({
    kind: 'terminal',
    reason: parameter.reason,
    message:
      `${FIELD}.login.${parameter.field}${value === undefined ? ' (not set)' : ` = ${shown(value)}`}: ` +
      `iDempiere answered "${parameter.detail}". Set it to an id or a name the user can log in with ` +
      `(with ${FIELD}.login.client given as its id or name, the operator lists the choices).`,
    httpStatus: 401,
    providerCode: 'Authenticate error',
  });
}

/** A choice a value resolves to; a terminal error naming the field and listing the choices otherwise. */
function resolve(field: ChoiceField, value: Value, choices: Choice[], scope: string): number {
  const path = `${FIELD}.login.${field}`;
  const available = choices.length > 0 ? ` Available ${PLURAL[field]}: ${listed(choices)}.` : '';
  if (value === undefined) {
    const [only] = choices;
    if (only && choices.length === 1) return only.id;
    throw new ProviderError({
      kind: 'terminal',
      reason: choices.length === 0 ? 'LoginChoiceNotFound' : 'LoginChoiceAmbiguous',
      message:
        choices.length === 0
          ? `${path} is not set and there is no ${field} ${scope}.`
          : `${path} is not set and there are ${choices.length} ${PLURAL[field]} ${scope}.${available} Set it to one of these names or ids.`,
    });
  }
  const matches = match(value, choices);
  const [found] = matches;
  if (found && matches.length === 1) return found.id;
  if (matches.length === 0) {
    throw new ProviderError({
      kind: 'terminal',
      reason: 'LoginChoiceNotFound',
      message:
        `${path} = ${shown(value)} matches no ${field} ${scope}.` +
        (available || ` There is none to choose from.`) +
        (available ? ' Set it to one of these names or ids.' : ''),
    });
  }
  throw new ProviderError({
    kind: 'terminal',
    reason: 'LoginChoiceAmbiguous',
    message:
      `${path} = ${shown(value)} matches ${matches.length} ${PLURAL[field]} ${scope}: ${listed(matches)}. ` +
      `Set it to the id of the one to use.${available}`,
  });
}

/** By id for numbers; by exact name, then ignoring case, then as a numeric id for strings. */
function match(value: number | string, choices: Choice[]): Choice[] {
  if (typeof value === 'number') return choices.filter((choice) => choice.id === value);
  const exact = choices.filter((choice) => choice.name === value);
  if (exact.length > 0) return exact;
  const wanted = value.trim().toLowerCase();
  const loose = choices.filter((choice) => choice.name.trim().toLowerCase() === wanted);
  if (loose.length > 0) return loose;
  return /^\d+$/.test(value.trim()) ? choices.filter((choice) => choice.id === Number(value.trim())) : [];
}

function choicesIn(spec: IdempiereSpec, call: Call, body: Record<string, unknown>, key: string): Choice[] {
  const list = body[key];
  const choices = Array.isArray(list)
    ? list.flatMap((item: unknown) => {
        const id = numberField(item, 'id');
        const name = stringField(item, 'name');
        return id === undefined ? [] : [{ id, name: name ?? String(id) }];
      })
    : undefined;
  if (choices === undefined) {
    throw new ProviderError({
      kind: 'transient',
      reason: 'InvalidResponse',
      message: `${target(spec, call)} answered 200 without a "${key}" list.`,
    });
  }
  return choices;
}

export async function login(
  spec: IdempiereSpec,
  context: ProviderContext,
  credentials: Credentials,
): Promise<Session> {
  const { client, role, organization, warehouse, language } = spec.login;
  if (
    typeof client === 'number' &&
    typeof role === 'number' &&
    typeof organization === 'number' &&
    typeof warehouse === 'number'
  ) {
    const call: Call = {
      method: 'POST',
      path: 'auth/tokens',
      json: {
        userName: credentials.username,
        password: credentials.password,
        parameters: {
          clientId: client,
          roleId: role,
          organizationId: organization,
          warehouseId: warehouse,
          ...(language === undefined ? {} : { language }),
        },
      },
    };
    const response = await send(spec, context, call);
    if (response.status === 200) return requireSession(spec, call, jsonObject(spec, call, response));
    // iDempiere names no alternatives: the step-by-step flow finds them and says which field is wrong.
    if (parameterDetail(response)) return stepByStep(spec, context, credentials);
    if (isAuthenticateError(response)) throw loginFailed(spec, call, response, credentials);
    throw unexpectedAnswer(spec, call, response);
  }
  return stepByStep(spec, context, credentials);
}

async function stepByStep(
  spec: IdempiereSpec,
  context: ProviderContext,
  credentials: Credentials,
): Promise<Session> {
  const user = `user ${JSON.stringify(excerpt(credentials.username, 80))}`;
  const step1: Call = {
    method: 'POST',
    path: 'auth/tokens',
    json: { userName: credentials.username, password: credentials.password },
  };
  const body = await answer(spec, context, step1, credentials);
  const partial = sessionFrom(body);
  if (partial.refreshToken !== undefined) {
    // Abbreviated login: one client, role and org, and the server opened the session itself.
    const session = requireSession(spec, step1, body);
    checkAbbreviated(spec, body, session, user);
    return session;
  }
  const token = partial.token;
  if (token === undefined) return requireSession(spec, step1, body); // throws: names what is missing

  const { login } = spec;
  const clients = choicesIn(spec, step1, body, 'clients');
  if (typeof login.client === 'string' && match(login.client, clients).length === 0) {
    // Perhaps the client's search key (Value), which only the server can resolve.
    return byClientValue(spec, context, credentials, token, clients, user);
  }
  const clientId = resolve('client', login.client, clients, `for ${user}`);
  const clientName = clients.find((c) => c.id === clientId) ?? { id: clientId, name: String(clientId) };

  const lookup = async (path: string, query: Record<string, number>, key: string): Promise<Choice[]> => {
    const call: Call = { method: 'GET', path, query, bearer: token };
    return choicesIn(spec, call, await answer(spec, context, call, credentials), key);
  };
  const roles = await lookup('auth/roles', { client: clientId }, 'roles');
  const roleId = resolve('role', login.role, roles, `for ${user} in client ${label(clientName)}`);
  const roleName = roles.find((r) => r.id === roleId) ?? { id: roleId, name: String(roleId) };
  const orgs = await lookup('auth/organizations', { client: clientId, role: roleId }, 'organizations');
  const orgId = resolve('organization', login.organization, orgs, `for role ${label(roleName)}`);
  const orgName = orgs.find((o) => o.id === orgId) ?? { id: orgId, name: String(orgId) };
  const warehouses = await lookup(
    'auth/warehouses',
    { client: clientId, role: roleId, organization: orgId },
    'warehouses',
  );
  // Omitted with several to choose from: iDempiere then uses the organization's default warehouse.
  const warehouseId =
    login.warehouse === undefined && warehouses.length !== 1
      ? undefined
      : resolve('warehouse', login.warehouse, warehouses, `in organization ${label(orgName)}`);
  return finish(spec, context, credentials, token, {
    clientId,
    roleId,
    organizationId: orgId,
    ...(warehouseId === undefined ? {} : { warehouseId }),
    ...(login.language === undefined ? {} : { language: login.language }),
  });
}

/** The whole login handed to the server as given: it knows client search keys, the lookups do not. */
async function byClientValue(
  spec: IdempiereSpec,
  context: ProviderContext,
  credentials: Credentials,
  token: string,
  clients: Choice[],
  user: string,
): Promise<Session> {
  const { login } = spec;
  const parameters = {
    clientId: login.client,
    ...(login.role === undefined ? {} : { roleId: login.role }),
    ...(login.organization === undefined ? {} : { organizationId: login.organization }),
    ...(login.warehouse === undefined ? {} : { warehouseId: login.warehouse }),
    ...(login.language === undefined ? {} : { language: login.language }),
  };
  const call: Call = { method: 'PUT', path: 'auth/tokens', json: parameters, bearer: token };
  const response = await send(spec, context, call);
  if (response.status === 200) return requireSession(spec, call, jsonObject(spec, call, response));
  const parameter = parameterDetail(response);
  // Not a search key either: list the clients by name and id.
  if (parameter?.field === 'client') resolve('client', login.client, clients, `for ${user}`);
  if (parameter) throw refusedParameter(spec, parameter);
  if (isAuthenticateError(response)) throw loginFailed(spec, call, response, credentials);
  throw unexpectedAnswer(spec, call, response);
}

async function finish(
  spec: IdempiereSpec,
  context: ProviderContext,
  credentials: Credentials,
  token: string,
  parameters: Record<string, number | string>,
): Promise<Session> {
  const call: Call = { method: 'PUT', path: 'auth/tokens', json: parameters, bearer: token };
  return requireSession(spec, call, await answer(spec, context, call, credentials));
}

/** Ids in the spec must be the ones the server chose; names cannot be checked (the answer has none). */
function checkAbbreviated(
  spec: IdempiereSpec,
  body: Record<string, unknown>,
  session: Session,
  user: string,
): void {
  const chosen: Record<ChoiceField, number | undefined> = {
    client: session.clientId,
    role: numberField(body, 'roleId'),
    organization: numberField(body, 'organizationId'),
    warehouse: numberField(body, 'warehouseId'),
  };
  for (const field of ['client', 'role', 'organization', 'warehouse'] as const) {
    const wanted = spec.login[field];
    if (typeof wanted !== 'number' || wanted === chosen[field]) continue;
    const only = chosen[field];
    throw new ProviderError({
      kind: 'terminal',
      reason: 'LoginChoiceNotFound',
      message:
        `${FIELD}.login.${field} = ${wanted}, but ${user} has one client, one role and one organization, ` +
        `so iDempiere opened the session itself with ${only === undefined ? `no ${field}` : `${field} ${only}`}. ` +
        `Set it to ${only === undefined ? 'nothing' : String(only)} or remove it.`,
    });
  }
}
