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

/** Extra check on every label value, e.g. "is this a registered secret?". */
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

  kubernetesName(value: string): string {
    return this.#check(value, KUBERNETES_NAME);
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
