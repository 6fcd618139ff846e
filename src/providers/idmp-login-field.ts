// Which JSON field carries IDMP's login name. The wire name is unpublished (vendor notes §5.1): the
// Java SDK has `setLoginName` (generated code camel-cases any wire name, so it proves nothing), and
// every raw-HTTP script TaosData publishes sends `login_name`, the only wire evidence: the default.
// A Java server with Jackson's FAIL_ON_UNKNOWN_PROPERTIES refuses a body carrying both, so one is
// sent, and a 400 that names the field is answered by trying the other once.
import type { IdmpSpec } from './idmp.ts';

export type LoginField = NonNullable<IdmpSpec['loginField']>;

export const DEFAULT_LOGIN_FIELD: LoginField = 'login_name';

export function otherLoginField(field: LoginField): LoginField {
  return field === 'login_name' ? 'loginName' : 'login_name';
}

// Jackson (unknown property, type mismatch, malformed JSON) and Bean Validation (a missing or blank
// required field), in the wordings Spring and Quarkus put in their 400 bodies.
const REQUEST_FORMAT =
  /unrecognized field|not marked as ignorable|unknown (?:property|field)|cannot deserialize|json parse error|constraint violation|must not be (?:null|blank|empty)|(?:missing|required) (?:request )?(?:field|property|parameter|creator property)/i;
// Either spelling: `login_name`, `loginName`; not "login name" (a wrong-password message).
const LOGIN_FIELD_NAME = /login_?name/i;

/** A 400 body that says the request's shape was wrong, not the credentials. */
export function isRequestFormatRejection(status: number, body: string): boolean {
  return status === 400 && REQUEST_FORMAT.test(body);
}

/** A format rejection about the login name's field: the other name may be the one the server wants. */
export function namesLoginField(status: number, body: string): boolean {
  return isRequestFormatRejection(status, body) && LOGIN_FIELD_NAME.test(body);
}

/**
 * The field that worked, per baseUrl, for the life of the process. Not persisted: rediscovering it
 * costs one extra request at the first login after a restart, and a stored name would go stale when
 * the server is upgraded anyway (costing the same request). `spec.provider.idmp.loginField` pins it
 * for those who want no extra request at all.
 */
export class LoginFieldMemory {
  readonly #fields = new Map<string, LoginField>();

  get(baseUrl: string): LoginField | undefined {
    return this.#fields.get(normalize(baseUrl));
  }

  set(baseUrl: string, field: LoginField): void {
    this.#fields.set(normalize(baseUrl), field);
  }
}

function normalize(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}
