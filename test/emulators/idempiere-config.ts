// iDempiere REST SysConfig switches the emulator honours, and the plugin's ErrorBuilder body.
import { json, type Reply } from './http.ts';

export interface IdempiereKnobs {
  /** REST_TOKEN_EXPIRE_IN_MINUTES; 0 = access tokens without `exp`. Default 60. */
  tokenExpireMinutes: number;
  /** REST_REFRESH_TOKEN_EXPIRE_IN_MINUTES: sliding inactivity limit; 0 = none. Default 1440. */
  refreshTokenExpireMinutes: number;
  /** REST_TOKEN_ABSOLUTE_EXPIRE_IN_MINUTES: from login, inherited by the chain; 0 = none. Default 10080. */
  absoluteExpireMinutes: number;
  /** REST_MANDATORY_CLIENT_ID_ON_REFRESH. Default true (the code); the docs (seed 004) call it optional. */
  mandatoryClientIdOnRefresh: boolean;
  /** REST_MANDATORY_USER_ID_ON_REFRESH. Default true (the code); the docs call it optional. */
  mandatoryUserIdOnRefresh: boolean;
  /** IDEMPIERE_REST_EXPOSE_JWK. Default false (`GET /auth/jwk` answers `{}`). */
  exposeJwk: boolean;
  /** REST_USE_SYSCONFIG_SECRET. false = a new secret at every restart. Default true. */
  useSysConfigSecret: boolean;
  /** Add `menuTreeId` to session responses. Default true (the code); the docs' PUT example omits it. */
  menuTreeIdInResponse: boolean;
  /** AD_Message FailedLogin, the detail for a wrong user or password. */
  failedLoginMessage: string;
}

export const IDEMPIERE_DEFAULT_KNOBS: IdempiereKnobs = {
  tokenExpireMinutes: 60,
  refreshTokenExpireMinutes: 1440,
  absoluteExpireMinutes: 10080,
  mandatoryClientIdOnRefresh: true,
  mandatoryUserIdOnRefresh: true,
  exposeJwk: false,
  useSysConfigSecret: true,
  menuTreeIdInResponse: true,
  failedLoginMessage: 'Invalid User ID or Password',
};

/**
 * ErrorBuilder.build(): keys in the order type, title, status, detail; `title` is always written
 * (JSON null when unset, from a bug that tests the literal "title"); `detail` only when non-empty.
 */
export function errorReply(status: number, title: string | null, detail?: string): Reply {
  return json(status, { title, status, ...(detail ? { detail } : {}) });
}

export function authenticateError(detail: string): Reply {
  return errorReply(401, 'Authenticate error', detail);
}

/** now + minutes, or null when the setting is 0 (TokenUtils returns null then). */
export function minutesFrom(now: number, minutes: number): number | null {
  return minutes === 0 ? null : now + minutes * 60_000;
}
