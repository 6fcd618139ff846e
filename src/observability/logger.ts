// The operator's JSON logger. Three layers, because one forgotten path must not leak a token:
// 1. every logged object is walked and credential-named fields are censored at any depth
//    (sanitize.ts), errors reduced to safe fields (serialize-error.ts);
// 2. pino's own redact paths for the same names at the top level, as a second net;
// 3. every finished line is scrubbed of the secret values the controller registered (redactor.ts),
//    which catches a token that slipped into a message string or an error's stack. The line's
//    `credential` (namespace/name) is identity and is kept, whatever secret it happens to spell.
import pino from 'pino';
import type { DestinationStream, LevelWithSilentOrString, LogFn, Logger } from 'pino';
import { HEADER_KEYS, SENSITIVE_KEYS, sanitize, sanitizeRecord } from './sanitize.ts';
import { REDACTED, SecretRedactor } from './redactor.ts';
import { safeErrorMessage, serializeError } from './serialize-error.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LevelWithSilentOrString;
  /** Where lines go; stdout when omitted. */
  destination?: DestinationStream;
  /** Fields on every line instead of pino's pid and hostname. */
  base?: Record<string, unknown>;
  /** The redactor the controller registers secret values in; lines are scrubbed through it. */
  redactor?: SecretRedactor;
}

// pino's paths are exact and case-sensitive: cover the spellings HTTP headers and JSON bodies use,
// at the top level. Deeper levels are left to the walk in sanitize.ts: pino's wildcard paths cost
// ~70 µs per line per level with this many names, nested literal paths ~90 µs when their parent is
// present, while the walk covers every depth in a few µs.
export function redactPaths(): string[] {
  const names = new Set<string>();
  for (const key of SENSITIVE_KEYS) {
    names.add(key);
    names.add(key.toLowerCase());
    names.add(key.toUpperCase());
    names.add(key.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase()));
  }
  return [...[...names].map((name) => `["${name}"]`), ...HEADER_KEYS.map((headers) => `${headers}.*`)];
}

export function createLogger(options: LoggerOptions): Logger {
  const redactor = options.redactor ?? new SecretRedactor();
  const pinoOptions: pino.LoggerOptions = {
    level: options.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      bindings: (bindings) => sanitizeRecord(bindings),
      log: (record) => sanitizeRecord(record),
    },
    serializers: { err: (value: unknown) => (value instanceof Error ? serializeError(value) : value) },
    redact: { paths: redactPaths(), censor: REDACTED },
    hooks: {
      logMethod(args, method) {
        Reflect.apply(method, this, safeArguments(args as unknown[]));
      },
      streamWrite: (line) => redactor.scrub(line, identityIn(line)),
    },
  };
  if (options.base !== undefined) pinoOptions.base = options.base;
  const logger =
    options.destination === undefined ? pino(pinoOptions) : pino(pinoOptions, options.destination);
  sanitizeChildBindings(logger);
  return logger;
}

// Every line about a credential carries `"credential":"namespace/name"`.
const CREDENTIAL_FIELD = '"credential":"';
const CREDENTIAL_KEY = /([a-z0-9][-a-z0-9.]{0,252})\/([a-z0-9][-a-z0-9.]{0,252})"/y;

/** The credential names a line is about: kept by the scrub. */
export function identityIn(line: string): string[] {
  const names: string[] = [];
  for (let at = line.indexOf(CREDENTIAL_FIELD); at >= 0; at = line.indexOf(CREDENTIAL_FIELD, at + 1)) {
    CREDENTIAL_KEY.lastIndex = at + CREDENTIAL_FIELD.length;
    const [, namespace, name] = CREDENTIAL_KEY.exec(line) ?? [];
    if (namespace !== undefined && name !== undefined) names.push(`${namespace}/${name}`, namespace, name);
  }
  return names;
}

// pino applies formatters.bindings to the root's base only (children get an identity formatter), so
// child() and setBindings() are wrapped; children inherit the wrappers through the prototype chain.
function sanitizeChildBindings(logger: Logger): void {
  for (const method of ['child', 'setBindings'] as const) {
    const original: unknown = Reflect.get(logger, method);
    if (typeof original !== 'function') continue;
    Object.defineProperty(logger, method, {
      value(this: Logger, bindings: pino.Bindings, ...rest: unknown[]): unknown {
        return Reflect.apply(original, this, [sanitizeRecord(bindings), ...rest]);
      },
    });
  }
}

// pino takes an error's message as the line's message when none is given; for client-node's
// ApiException that is the response body and headers. Format arguments (%o, %j) bypass the
// formatters, so they are sanitized here.
function safeArguments(args: unknown[]): Parameters<LogFn> {
  const [first, ...rest] = args;
  if (first instanceof Error) {
    const [message, formatArgs] = splitMessage(rest);
    return [{ err: first }, message ?? safeErrorMessage(first), ...formatArgs.map(sanitize)];
  }
  if (typeof first === 'object' && first !== null) {
    const [message, formatArgs] = splitMessage(rest);
    const err = (first as { err?: unknown }).err;
    const fallback =
      err instanceof Error && (first as { msg?: unknown }).msg === undefined
        ? safeErrorMessage(err)
        : undefined;
    const safeMessage = message ?? fallback;
    return (
      safeMessage === undefined
        ? [first, ...rest.map(sanitize)]
        : [first, safeMessage, ...formatArgs.map(sanitize)]
    ) as Parameters<LogFn>;
  }
  return [first, ...rest.map(sanitize)] as Parameters<LogFn>;
}

function splitMessage(rest: unknown[]): [string | undefined, unknown[]] {
  const [message, ...formatArgs] = rest;
  return typeof message === 'string' ? [message, formatArgs] : [undefined, rest];
}
