// spec.secret.template: extra consumer Secret keys rendered from the token fields with Liquid. Pure:
// the engine reads templates from an empty in-memory map (never the file system), has no
// include/render/layout tags, refuses unknown variables and filters, and is bounded in size and time.
import { Liquid, type Template } from 'liquidjs';
import { TEMPLATE_MAX_KEYS, TEMPLATE_MAX_LENGTH, type ApiCredentialSpec } from '../api/apicredential.ts';
import type { TokenSet } from '../providers/types.ts';

/** The variables a template may use, in the order messages list them. */
export const TEMPLATE_VARIABLES = ['token', 'tokenType', 'expiresAt', 'issuedAt', 'data', 'tenants'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

export interface TenantValues {
  token: string;
  tokenType: string;
  /** RFC 3339. */
  expiresAt: string;
}

/** The values of one rendering; a variable without a value (no `tenants` for oauth2) is unknown. */
export type TemplateValues = Partial<Record<Exclude<TemplateVariable, 'tenants' | 'data'>, string>> & {
  /** Every key the provider wrote (IDMP cloud's `access-token`, Insights Hub's `token.<tenant>`). */
  data?: Readonly<Record<string, string>>;
  tenants?: Record<string, TenantValues>;
};

/** Tags that reach other templates: with no file system behind them they could only fail later. */
const FILE_TAGS = ['include', 'render', 'layout'];

function createEngine(): Liquid {
  const engine = new Liquid({
    templates: {},
    strictVariables: true,
    strictFilters: true,
    ownPropertyOnly: true,
    cache: false,
    parseLimit: TEMPLATE_MAX_LENGTH * TEMPLATE_MAX_KEYS,
    // ms: a template renders in microseconds; a runaway loop must not hold the event loop.
    renderLimit: 100,
    memoryLimit: 4_000_000,
  });
  for (const tag of FILE_TAGS) Reflect.deleteProperty(engine.tags, tag);
  return engine;
}

const engine = createEngine();

export type TemplateOutcome = { ok: true; data: Record<string, string> } | { ok: false; message: string };

function fieldOf(key: string): string {
  return `spec.secret.template[${JSON.stringify(key)}]`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The variable an UndefinedVariableError names ("undefined variable: tenants.acme, line:1, col:4"). */
function undefinedVariable(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.name !== 'UndefinedVariableError') return undefined;
  return /undefined variable: ([^,]+)/.exec(error.message)?.[1];
}

function unknownVariable(
  key: string,
  variable: string,
  known: readonly string[],
  tenants?: readonly string[],
): string {
  const listed =
    tenants && variable.startsWith('tenants.') ? `; tenants: ${tenants.join(', ') || '(none)'}` : '';
  return `${fieldOf(key)}: unknown variable ${JSON.stringify(variable)}; known: ${known.join(', ')}${listed}.`;
}

interface Parsed {
  template?: Template[];
  error?: string;
  /** The first top-level variable that is not a TEMPLATE_VARIABLES name. */
  unknown?: string;
}

// Every reconcile checks the spec's templates: parsing each time cost ~100 µs per key. Parsed
// templates are reused across renders; the cache is dropped whole when full (specs rarely change).
const PARSED_CACHE_LIMIT = 2048;
const parsedCache = new Map<string, Parsed>();

function parsedOf(source: string): Parsed {
  const cached = parsedCache.get(source);
  if (cached) return cached;
  let parsed: Parsed;
  try {
    const template = engine.parse(source);
    const unknown = engine
      .globalVariablesSync(template)
      .find((name) => !(TEMPLATE_VARIABLES as readonly string[]).includes(name));
    parsed = { template, unknown };
  } catch (error) {
    parsed = { error: errorText(error) };
  }
  if (parsedCache.size >= PARSED_CACHE_LIMIT) parsedCache.clear();
  parsedCache.set(source, parsed);
  return parsed;
}

function parse(
  key: string,
  source: string,
): { template: Template[]; unknown?: string } | { message: string } {
  const parsed = parsedOf(source);
  if (!parsed.template)
    return { message: `${fieldOf(key)}: cannot parse the template: ${parsed.error ?? '?'}.` };
  return { template: parsed.template, unknown: parsed.unknown };
}

/**
 * Checks every template before a token is obtained: it parses, and names only known variables
 * (at the top level; a missing tenant or field is found when rendering). Undefined when all pass.
 */
export function checkTemplates(template: Readonly<Record<string, string>> | undefined): string | undefined {
  for (const [key, source] of Object.entries(template ?? {})) {
    const parsed = parse(key, source);
    if ('message' in parsed) return parsed.message;
    if (parsed.unknown !== undefined) return unknownVariable(key, parsed.unknown, TEMPLATE_VARIABLES);
  }
  return undefined;
}

/** Removes the rendered values from a library message: it goes into the status and a log line. */
function withoutValues(message: string, values: TemplateValues): string {
  const secrets = [values.token, ...Object.values(values.tenants ?? {}).map((tenant) => tenant.token)].filter(
    (value): value is string => value !== undefined && value !== '',
  );
  return secrets.reduce((text, secret) => text.split(secret).join('[redacted]'), message);
}

/**
 * Renders every template. `taken` are the keys the provider writes itself: a template may not
 * replace them. The values never appear in a returned message.
 */
export function renderTemplates(
  template: Readonly<Record<string, string>> | undefined,
  values: TemplateValues,
  taken: readonly string[],
): TemplateOutcome {
  const data: Record<string, string> = {};
  const known = TEMPLATE_VARIABLES.filter((name) => values[name] !== undefined);
  for (const [key, source] of Object.entries(template ?? {})) {
    if (taken.includes(key)) {
      return { ok: false, message: `${fieldOf(key)}: the provider writes this key itself; choose another.` };
    }
    const parsed = parse(key, source);
    if ('message' in parsed) return { ok: false, message: parsed.message };
    try {
      const output: unknown = engine.renderSync(parsed.template, { ...values });
      data[key] = String(output);
    } catch (error) {
      const variable = undefinedVariable(error);
      if (variable !== undefined) {
        const tenants = values.tenants ? Object.keys(values.tenants) : undefined;
        return { ok: false, message: unknownVariable(key, variable, known, tenants) };
      }
      const text = withoutValues(errorText(error), values);
      return { ok: false, message: `${fieldOf(key)}: cannot render the template: ${text}.` };
    }
  }
  return { ok: true, data };
}

/** The template variables of a token set; spec.secret.keys says where the provider put each field. */
export function templateValuesOf(
  tokenSet: TokenSet,
  keys: ApiCredentialSpec['secret']['keys'],
): TemplateValues {
  const tenants = tokenSet.perTenant
    ? Object.fromEntries(
        Object.entries(tokenSet.perTenant).map(([tenant, entry]) => [
          tenant,
          {
            token: entry.token,
            tokenType: entry.tokenType,
            expiresAt: new Date(entry.expiresAt).toISOString(),
          },
        ]),
      )
    : undefined;
  return {
    token: tokenSet.data[keys.token],
    tokenType: tokenSet.data[keys.tokenType],
    expiresAt: tokenSet.data[keys.expiresAt] ?? new Date(tokenSet.expiresAt).toISOString(),
    issuedAt: new Date(tokenSet.issuedAt).toISOString(),
    data: tokenSet.data,
    ...(tenants ? { tenants } : {}),
  };
}

/** The consumer Secret's data: the provider's keys and the rendered template keys. */
export function consumerSecretData(secret: ApiCredentialSpec['secret'], tokenSet: TokenSet): TemplateOutcome {
  if (!secret.template || Object.keys(secret.template).length === 0) return { ok: true, data: tokenSet.data };
  const values = templateValuesOf(tokenSet, secret.keys);
  const rendered = renderTemplates(secret.template, values, Object.keys(tokenSet.data));
  return rendered.ok ? { ok: true, data: { ...tokenSet.data, ...rendered.data } } : rendered;
}
