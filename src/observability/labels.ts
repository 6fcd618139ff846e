// Metric label values. Labels are public (scraped, stored, shown on dashboards) and unbounded values
// explode series counts, so every value is checked against the narrow shape it should have and
// anything else becomes 'invalid': a token passed by mistake must not become a time series.

export const INVALID = 'invalid';

const GENERIC = /^[A-Za-z0-9_.:/-]{1,253}$/;
// DNS-1123 subdomain, which covers namespace and object names.
const KUBERNETES_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
// Condition reasons and failure reasons: CamelCase, as in metav1.Condition.
const REASON = /^[A-Z][A-Za-z0-9]{0,127}$/;

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];
export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'error';

/** Extra check on label values that are not object names, e.g. "is this a registered secret?". */
export type LabelGuard = (value: string) => boolean;

export class LabelValidator {
  #guard: LabelGuard;

  constructor(guard: LabelGuard = () => true) {
    this.#guard = guard;
  }

  /** Controller, queue, resource and provider names. */
  generic(value: string): string {
    return this.#check(value, GENERIC);
  }

  /**
   * A namespace or object name from an object's metadata: identity, public to anyone who can list
   * the object, so only its shape is checked, never the guard. A secret that happens to be spelled
   * like the name (a client_id `orders` for the credential `orders`) must not erase which
   * credential a series is about, nor fold two credentials into one `invalid` series.
   */
  kubernetesName(value: string): string {
    return KUBERNETES_NAME.test(value) ? value : INVALID;
  }

  reason(value: string): string {
    return this.#check(value, REASON);
  }

  #check(value: string, shape: RegExp): string {
    return shape.test(value) && GENERIC.test(value) && this.#guard(value) ? value : INVALID;
  }
}

export function httpMethod(method: string): HttpMethod | 'other' {
  const upper = method.toUpperCase();
  return (HTTP_METHODS as readonly string[]).includes(upper) ? (upper as HttpMethod) : 'other';
}

/** '2xx' for 204, 'error' when there was no HTTP answer (or a nonsense status). */
export function statusClass(status: number | 'error'): StatusClass {
  if (status === 'error' || !Number.isInteger(status) || status < 100 || status > 599) return 'error';
  return `${Math.floor(status / 100)}xx` as StatusClass;
}
