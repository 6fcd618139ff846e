// The emulators' record of what clients sent, with every credential replaced before it is stored:
// tests and demos print this log, so it must never hold a secret.
import type { FaultKind } from './faults.ts';
import { mediaType, type EmulatorRequest } from './http.ts';

export const REDACTED = '[redacted]';

// Compared after lower-casing and mapping '-' to '_', so `Access-token` and `access_token` are one name.
const SECRET_HEADERS = [
  'authorization',
  'proxy_authorization',
  'cookie',
  'set_cookie',
  'x_space_auth_key',
  'access_token',
  'api_key',
  'x_api_key',
];
const SECRET_FIELDS = [
  'password',
  'client_secret',
  'secret',
  'token',
  'access_token',
  'accesstoken',
  'refresh_token',
  'refreshtoken',
  'id_token',
  'client_assertion',
  'assertion',
  'api_key',
  'apikey',
  'authorization',
  'captcha',
];

export interface RedactionRules {
  /** Extra header names to redact (any case, '-' or '_'). */
  headers?: string[];
  /** Extra body and query field names to redact. */
  fields?: string[];
}

export type RequestOutcome = 'replied' | 'reset' | 'dropped' | 'truncated' | 'rejected';

export interface LoggedRequest {
  readonly seq: number;
  /** Emulator clock, epoch ms. */
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly route: string;
  readonly query: Readonly<Record<string, string | string[]>>;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON or form body with secrets redacted; a short description when it is neither. */
  readonly body: unknown;
  readonly fault?: FaultKind;
  /** Status of the reply the client got (or began to get); absent when the connection was cut. */
  readonly status?: number;
  readonly outcome?: RequestOutcome;
}

type MutableEntry = { -readonly [K in keyof LoggedRequest]: LoggedRequest[K] };

function normalise(name: string): string {
  return name.toLowerCase().replaceAll('-', '_');
}

export class RequestLog {
  #entries: MutableEntry[] = [];
  #seq = 0;
  #headers: Set<string>;
  #fields: Set<string>;

  constructor(rules: RedactionRules = {}) {
    this.#headers = new Set([...SECRET_HEADERS, ...(rules.headers ?? [])].map(normalise));
    this.#fields = new Set([...SECRET_FIELDS, ...(rules.fields ?? [])].map(normalise));
  }

  /** Records a request (redacted) and returns a handle to complete it with the outcome. */
  record(
    at: number,
    request: EmulatorRequest,
    fault?: FaultKind,
  ): (outcome: RequestOutcome, status?: number) => void {
    this.#seq += 1;
    const entry: MutableEntry = {
      seq: this.#seq,
      at,
      method: request.method,
      path: request.path,
      route: request.route,
      query: this.#redactParams(request.query),
      headers: this.#redactHeaders(request),
      body: this.#redactBody(request),
      ...(fault ? { fault } : {}),
    };
    this.#entries.push(entry);
    return (outcome, status) => {
      entry.outcome = outcome;
      if (status !== undefined) entry.status = status;
    };
  }

  entries(): LoggedRequest[] {
    return this.#entries.map((entry) => structuredClone(entry));
  }

  clear(): void {
    this.#entries = [];
  }

  #redactHeaders(request: EmulatorRequest): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, raw] of Object.entries(request.headers)) {
      if (raw === undefined) continue;
      const value = Array.isArray(raw) ? raw.join(', ') : raw;
      if (!this.#headers.has(normalise(name))) {
        out[name] = value;
        continue;
      }
      // Keep the scheme: it tells a reader which auth method was used without revealing anything.
      const scheme = /^(basic|bearer)\s/i.exec(value)?.[1];
      out[name] = scheme ? `${scheme} ${REDACTED}` : REDACTED;
    }
    return out;
  }

  #redactParams(params: URLSearchParams): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const key of new Set(params.keys())) {
      const values = params.getAll(key).map((value) => (this.#fields.has(normalise(key)) ? REDACTED : value));
      out[key] = values.length === 1 ? (values[0] ?? '') : values;
    }
    return out;
  }

  #redactBody(request: EmulatorRequest): unknown {
    if (request.body.length === 0) return undefined;
    const source = request.body.toString('utf8');
    const type = mediaType(request);
    if (type === 'application/x-www-form-urlencoded') return this.#redactParams(new URLSearchParams(source));
    try {
      return this.#redactValue(JSON.parse(source) as unknown);
    } catch {
      // Never keep text we cannot take apart: it may hold a credential.
      return `[${request.body.length} bytes of ${type || 'unknown type'}, not logged]`;
    }
  }

  #redactValue(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((item) => this.#redactValue(item));
    if (typeof value !== 'object' || value === null) return value;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = this.#fields.has(normalise(key)) ? REDACTED : this.#redactValue(item);
    }
    return out;
  }
}

/**
 * Which of the planted secret values occur in `haystack`, in raw, URL-encoded, JSON-escaped or
 * base64 form. For scanning captured logs in tests.
 */
export function findPlantedSecrets(haystack: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => {
    if (secret === '') return false;
    const forms = [
      secret,
      encodeURIComponent(secret),
      new URLSearchParams({ s: secret }).toString().slice(2),
      JSON.stringify(secret).slice(1, -1),
      Buffer.from(secret).toString('base64').replace(/=+$/, ''),
      Buffer.from(secret).toString('base64url'),
    ];
    return forms.some((form) => form.length > 0 && haystack.includes(form));
  });
}
