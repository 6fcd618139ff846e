// Hostile input for the fuzz tests (src/**/*.fuzz.test.ts): JSON text fragments no well-behaved
// server would send, answers built from them, and the property every provider call must keep.
// Bodies are built as text, not objects, so that they can carry what JSON.stringify cannot write:
// 1e309 (Infinity once parsed), duplicate and `__proto__` keys, truncation, broken UTF-8.
import fc from 'fast-check';
import { createResponse } from '../../../src/http/response.ts';
import type { HttpClient, HttpRequest, HttpResponse } from '../../../src/http/client.ts';
import { SecretRedactor } from '../../../src/observability/redactor.ts';
import { ProviderError } from '../../../src/errors/failure.ts';

/** Our clock in every fuzz run. */
export const FUZZ_NOW = Date.UTC(2026, 0, 1, 12);
const NOW_S = FUZZ_NOW / 1000;

/** Values the operator is given or handed and must never repeat: distinctive, long enough to find. */
export function plantedSecret(prefix: string, minLength = 12): fc.Arbitrary<string> {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return fc
    .string({ unit: fc.constantFrom(...alphabet.split('')), minLength, maxLength: Math.max(minLength, 40) })
    .map((tail) => `${prefix}${tail}`);
}

const str = (value: string): string => JSON.stringify(value);

/** Numbers, as JSON text, that break naive arithmetic. 1e309 and -1e309 parse to ±Infinity. */
export const hostileNumber: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '0',
    '-0',
    '-1',
    '-3600',
    '1e309',
    '-1e309',
    '1e-400',
    '1e20',
    '9007199254740993',
    '315360001',
    '0.0001',
    '1.7976931348623157e308',
    String(NOW_S),
    String(NOW_S + 3600),
    String(NOW_S - 3600),
    String(FUZZ_NOW),
    String(FUZZ_NOW + 3_600_000),
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => JSON.stringify(value)),
  fc.integer().map(String),
);

/** Strings that look like numbers, durations or nothing at all. */
const numberishString: fc.Arbitrary<string> = fc
  .constantFrom(
    'NaN',
    'Infinity',
    '-Infinity',
    '1e309',
    '',
    ' ',
    '300s',
    '0x10',
    '1_000',
    '12abc',
    '-5',
    '١٢٣',
  )
  .map(str);

/** Text that no parser should choke on: lone surrogates, control characters, RTL marks, long runs. */
const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }).map(str),
  fc
    .constantFrom('\u0000', '\ud800', '\udfff', '\u202e', '\r\n\r\nHTTP/1.1 200 OK', '%00', '${jndi:x}')
    .map(str),
  fc.integer({ min: 1_000, max: 200_000 }).map((length) => str('x'.repeat(length))),
);

/** A nesting deep enough to break recursive walkers. */
const deepNesting: fc.Arbitrary<string> = fc
  .integer({ min: 100, max: 5_000 })
  .chain((depth) =>
    fc.constantFrom(
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
      `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
    ),
  );

/** Objects whose keys attack prototypes. */
const prototypeObject: fc.Arbitrary<string> = fc.constantFrom(
  '{"__proto__":{"polluted":true,"access_token":"from-proto","exp":1}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"__proto__":null}',
  '{"toString":1,"valueOf":"x","hasOwnProperty":false}',
);

/** A JSON text fragment of any type, mostly the wrong one. */
export function hostileValue(secrets: readonly string[]): fc.Arbitrary<string> {
  const planted = secrets.length === 0 ? [] : [fc.constantFrom(...secrets).map(str)];
  const echoed =
    secrets.length === 0
      ? []
      : [
          fc
            .constantFrom(...secrets)
            .map((secret) => str(`the value ${secret} is not valid for this client`)),
        ];
  return fc.oneof(
    hostileNumber,
    numberishString,
    nastyString,
    deepNesting,
    prototypeObject,
    fc.constantFrom('null', 'true', 'false', '[]', '{}', '""', '[1,"a",null]'),
    fc.json({ maxDepth: 3 }),
    ...planted,
    ...echoed,
  );
}

/** A JWT (unsigned; the operator never verifies) whose payload is built from hostile claims. */
export function hostileJwt(secrets: readonly string[]): fc.Arbitrary<string> {
  const claim = fc.oneof(
    { weight: 3, arbitrary: hostileNumber },
    { weight: 1, arbitrary: hostileValue(secrets) },
  );
  return fc
    .record(
      {
        iat: claim,
        exp: claim,
        nbf: claim,
        AD_Client_ID: claim,
        AD_User_ID: claim,
      },
      { requiredKeys: [] },
    )
    .chain((claims) =>
      fc.record({
        payload: fc.constant(objectText(Object.entries(claims))),
        signature: fc.constantFrom('c2ln', '', 'not base64!'),
        header: fc.constantFrom('{"alg":"RS256","typ":"JWT"}', '{"alg":"none"}', 'not json'),
      }),
    )
    .map(
      ({ payload, signature, header }) =>
        `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}.${signature}`,
    );
}

/** A well-formed JWT around now, so that valid answers also occur. */
export function plausibleJwt(extraClaims: Record<string, number> = {}): fc.Arbitrary<string> {
  return fc
    .record({
      skewS: fc.integer({ min: -600, max: 600 }),
      lifetimeS: fc.integer({ min: 1, max: 7 * 86_400 }),
    })
    .map(({ skewS, lifetimeS }) => {
      const iat = NOW_S + skewS;
      const payload = JSON.stringify({ iat, exp: iat + lifetimeS, ...extraClaims });
      return `${Buffer.from('{"alg":"RS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(payload).toString('base64url')}.c2ln`;
    });
}

/** `{"k":v,...}` from text fragments; keys may repeat, as they may on the wire. */
export function objectText(entries: readonly (readonly [string, string])[]): string {
  return `{${entries.map(([key, value]) => `${str(key)}:${value}`).join(',')}}`;
}

export interface FieldSpec {
  name: string;
  /** The fragment a correct server sends. */
  valid: fc.Arbitrary<string>;
}

/**
 * A body shaped like the expected one, every field kept, dropped or replaced by a hostile value,
 * plus stray keys (prototype keys among them) in random places.
 */
export function mutatedObject(
  fields: readonly FieldSpec[],
  secrets: readonly string[],
): fc.Arbitrary<string> {
  const perField = fields.map((field) =>
    fc.oneof(
      { weight: 4, arbitrary: field.valid.map((value) => [[field.name, value]] as [string, string][]) },
      { weight: 1, arbitrary: fc.constant([] as [string, string][]) },
      {
        weight: 2,
        arbitrary: hostileValue(secrets).map((value) => [[field.name, value]] as [string, string][]),
      },
    ),
  );
  const strayKey = fc.oneof(
    fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      ...fields.map((field) => field.name),
    ),
    fc.string({ maxLength: 12 }),
  );
  const strays = fc.array(fc.tuple(strayKey, hostileValue(secrets)), { maxLength: 3 });
  return fc.tuple(fc.tuple(...perField), strays, fc.boolean()).map(([chosen, extra, strayFirst]) => {
    const entries = chosen.flat();
    return objectText(strayFirst ? [...extra, ...entries] : [...entries, ...extra]);
  });
}

/** Any body at all: the shaped one mostly, else garbage, truncation, broken bytes, echoed secrets. */
export function hostileBody(shaped: fc.Arbitrary<string>, secrets: readonly string[]): fc.Arbitrary<string> {
  const echoes =
    secrets.length === 0
      ? []
      : [
          fc.constantFrom(...secrets).chain((secret) =>
            fc.constantFrom(
              objectText([
                ['error', str('invalid_client')],
                ['error_description', str(`client secret ${secret} is wrong`)],
              ]),
              objectText([
                ['code', '401'],
                ['message', str(`password ${secret} rejected`)],
              ]),
              objectText([
                ['title', str('Authenticate error')],
                ['detail', str(`bad token ${secret}`)],
                ['status', '401'],
              ]),
              objectText([
                [
                  'errors',
                  `[${objectText([
                    ['code', str('mdsp.core.generic.unauthorized')],
                    ['logref', str(secret)],
                    ['message', str(`secret ${secret}`)],
                  ])}]`,
                ],
              ]),
              `<html><body>Login failed for ${secret}</body></html>`,
              `access_token=${secret}&token_type=bearer&expires_in=300`,
              secret,
            ),
          ),
        ];
  return fc.oneof(
    { weight: 10, arbitrary: shaped },
    { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
    {
      weight: 2,
      arbitrary: shaped.chain((text) =>
        fc.nat({ max: Math.max(0, text.length - 1) }).map((end) => text.slice(0, end)),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes).toString('utf8')),
    },
    { weight: 1, arbitrary: deepNesting },
    {
      weight: 1,
      arbitrary: fc.constantFrom('', ' ', 'null', '[]', '"a string"', '<html>502 Bad Gateway</html>'),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 10_000, max: 1_000_000 })
        .map((length) => `{"access_token":"${'A'.repeat(length)}`),
    },
    ...echoes.map((arbitrary) => ({ weight: 3, arbitrary })),
  );
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** An answer with any status, a content type that may lie, and any Retry-After. */
export function hostileAnswer(body: fc.Arbitrary<string>, okWeight = 6): fc.Arbitrary<RawAnswer> {
  const status = fc.oneof(
    { weight: okWeight, arbitrary: fc.constant(200) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(201, 204, 301, 302, 400, 401, 403, 404, 408, 409, 413, 429, 500, 502, 503),
    },
    { weight: 1, arbitrary: fc.integer({ min: 100, max: 599 }) },
  );
  const contentType = fc.option(
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/html',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/octet-stream',
      'application/json; charset=utf-16',
    ),
    { nil: undefined },
  );
  const retryAfter = fc.option(
    fc.oneof(
      fc.constantFrom(
        '0',
        '5',
        '1e309',
        '-5',
        'NaN',
        '99999999999999999999',
        'Thu, 01 Jan 2026 12:01:30 GMT',
        'Mon, 99 Foo',
      ),
      fc.string({ maxLength: 20 }),
    ),
    { nil: undefined },
  );
  const location = fc.option(fc.constantFrom('/login?session=abc', 'http://[::1', 'javascript:alert(1)'), {
    nil: undefined,
  });
  return fc.record({ status, contentType, retryAfter, location, text: body }).map((answer) => {
    const headers: Record<string, string> = {};
    if (answer.contentType !== undefined) headers['content-type'] = answer.contentType;
    if (answer.retryAfter !== undefined) headers['retry-after'] = answer.retryAfter;
    if (answer.location !== undefined) headers.location = answer.location;
    return { status: answer.status, headers, text: answer.text };
  });
}

/**
 * An HttpClient that answers from a script, in order, through the real response object
 * (createResponse), repeating the last answer once the script runs out. No network.
 */
export class ScriptedHttp implements HttpClient {
  readonly requests: HttpRequest[] = [];
  readonly #answers: readonly RawAnswer[];

  constructor(answers: readonly RawAnswer[]) {
    if (answers.length === 0) throw new Error('ScriptedHttp needs at least one answer');
    this.#answers = answers;
  }

  request(request: HttpRequest): Promise<HttpResponse> {
    const answer = this.#answers[Math.min(this.requests.length, this.#answers.length - 1)] as RawAnswer;
    this.requests.push(request);
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      // What the real client (src/http/request.ts) answers to a URL it cannot parse.
      return Promise.reject(
        new ProviderError({
          kind: 'terminal',
          reason: 'InvalidURL',
          message: 'the provider URL is not an absolute URL.',
        }),
      );
    }
    return Promise.resolve(createResponse(answer, `${url.host}${url.pathname}`, () => FUZZ_NOW));
  }
}

const HANG_MS = 5_000;

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ProviderError };

/** What was planted in one call. */
export interface PlantedValues {
  /**
   * Values the operator read from the referenced Secrets (client secrets, passwords, pasted tokens).
   * The reconciler registers them with its SecretRedactor before the call, so the check applies the
   * same redactor, and separately counts how often the provider's own message quoted them.
   */
  known: readonly string[];
  /**
   * Values only the server knows (tokens in answers the operator rejects, stored refresh tokens): no
   * redactor holds them, so they must be cut out by shape (JWTs, long opaque strings, key=value).
   */
  unknown: readonly string[];
}

/** Provider messages that quoted a known secret before the redactor removed it (a finding, not a failure). */
export const echoes = { count: 0 };

/**
 * The property every provider call keeps, whatever it is fed: it settles within HANG_MS, with a
 * value or a ProviderError that has a stable reason, a kind, a bounded printable message, and none of
 * the planted values in its message as users would see it. Anything else (a TypeError, a
 * RangeError, a hang) throws here with what went wrong.
 */
export async function settle<T>(run: () => Promise<T>, planted: PlantedValues): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer within ${HANG_MS} ms: the call hangs`));
    }, HANG_MS);
  });
  try {
    const value = await Promise.race([run(), hang]);
    return { ok: true, value };
  } catch (error) {
    if (!ProviderError.is(error)) {
      throw new Error(
        `expected a ProviderError, got ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error)}`,
        { cause: error },
      );
    }
    assertSafeError(error, planted);
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

export function assertSafeError(error: ProviderError, planted: PlantedValues): void {
  const problems: string[] = [];
  if (!/^[A-Z][A-Za-z]+$/.test(error.reason))
    problems.push(`reason ${JSON.stringify(error.reason)} is not CamelCase`);
  if (!['terminal', 'transient', 'rate-limited'].includes(error.kind)) problems.push(`kind ${error.kind}`);
  if (error.message.trim() === '') problems.push('empty message');
  if (error.message.length > 6_000) problems.push(`message of ${error.message.length} characters`);
  if (error.retryAfterMs !== undefined && !(error.retryAfterMs >= 0 && error.retryAfterMs <= 3_600_000))
    problems.push(`retryAfterMs ${error.retryAfterMs}`);
  const redactor = new SecretRedactor();
  for (const value of planted.known) redactor.add(value);
  if (planted.known.some((value) => error.message.includes(value))) echoes.count += 1;
  const shown = redactor.scrub(error.message);
  for (const secret of [...planted.known, ...planted.unknown]) {
    const at = shown.indexOf(secret);
    if (at >= 0) problems.push(`message contains a planted secret (${secret.slice(0, 4)}…, at ${at})`);
  }
  if (problems.length > 0) {
    const all = [...planted.known, ...planted.unknown];
    throw new Error(`${error.reason}: ${problems.join('; ')}\nmessage: ${redact(error.message, all)}`);
  }
}

function redact(text: string, secrets: readonly string[]): string {
  return secrets.reduce((result, secret) => result.split(secret).join('<PLANTED>'), text).slice(0, 2_000);
}

/** Counts fuzzed inputs across a file, for the report. */
export class InputCounter {
  total = 0;
  add(): void {
    this.total += 1;
  }
}
