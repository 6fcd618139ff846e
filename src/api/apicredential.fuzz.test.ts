// The spec schema fed hostile specs: a valid spec of each provider with one field replaced by a value
// of the wrong type, specs that are random JSON, and specs carrying prototype keys. Property: zod
// never throws, and when it refuses a spec, the message the reconciler builds from the first issue
// ("spec.<path>: <message>") names the replaced field (or the object holding it).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { apiCredentialSpecSchema } from './apicredential.ts';

const SEED = 20260102;
let inputs = 0;

afterAll(() => {
  console.info(`spec schema fuzz: 3 properties, ${inputs} inputs`);
});

const VALID: Record<string, unknown>[] = [
  {
    provider: {
      oauth2: {
        tokenUrl: 'https://idp.example.com/token',
        credentialsRef: { name: 'creds' },
        scopes: ['a'],
        extraParams: { x: 'y' },
      },
    },
    secret: { name: 'out', keys: { token: 'token' }, labels: { a: 'b' } },
    refresh: { renewBefore: '5m', assumedLifetime: '1h' },
  },
  { provider: { tapdata: { baseUrl: 'http://tapdata:3030', credentialsRef: { name: 'creds' } } } },
  { provider: { idmp: { baseUrl: 'http://idmp:6042', credentialsRef: { name: 'creds' } } } },
  {
    provider: {
      idmpCloud: {
        baseUrl: 'https://a.idmp.taosdata.com',
        tokensRef: { name: 'pasted' },
        checkInterval: '10m',
      },
    },
  },
  {
    provider: {
      insightsHub: {
        baseUrl: 'https://gateway.eu1.mindsphere.io',
        credentialsRef: { name: 'creds' },
        appName: 'app',
        appVersion: '1.0.0',
        hostTenant: 'host',
        userTenants: ['t1'],
        batchSize: 2,
      },
    },
    rolloutRestartTargets: [{ kind: 'Deployment', name: 'web' }],
  },
  {
    provider: {
      idempiere: {
        baseUrl: 'http://erp:8080',
        credentialsRef: { name: 'creds' },
        login: { client: 11, role: 'Admin' },
      },
    },
    refresh: { renewBeforePercentage: 20 },
  },
];

/** Every path to a leaf (or an array) of a plain JSON value. */
function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  return [prefix, ...entries.flatMap(([key, child]) => leafPaths(child, [...prefix, key]))];
}

function replaced(value: unknown, path: readonly (string | number)[], replacement: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return replacement;
  if (Array.isArray(value)) {
    const items: unknown[] = value;
    return items.map((item, index) => (index === head ? replaced(item, rest, replacement) : item));
  }
  const record = value as Record<string, unknown>;
  return { ...record, [head]: replaced(record[head], rest, replacement) };
}

/** Values whose JSON type differs from the original's. */
function wrongTyped(original: unknown): fc.Arbitrary<unknown> {
  const all: fc.Arbitrary<unknown>[] = [
    fc.constant(null),
    fc.boolean(),
    fc.oneof(
      fc.double(),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, Number.MAX_VALUE, 2 ** 53),
    ),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constant('x'.repeat(100_000)),
    fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  ];
  const type = Array.isArray(original) ? 'array' : original === null ? 'null' : typeof original;
  const indexOf: Record<string, number> = { null: 0, boolean: 1, number: 2, string: 3, array: 5, object: 6 };
  const index = indexOf[type] ?? -1;
  return fc.oneof(...all.filter((_, i) => i !== index && !(type === 'string' && i === 4)));
}

function fieldOf(issuePath: readonly PropertyKey[]): string {
  return ['spec', ...issuePath.map(String)].join('.');
}

describe('apiCredentialSpecSchema with hostile specs', () => {
  it('one field of a valid spec with the wrong type: refused, naming that field', () => {
    const cases = fc
      .constantFrom(...VALID)
      .chain((spec) =>
        fc
          .constantFrom(...leafPaths(spec).filter((path) => path.length > 0))
          .chain((path) =>
            wrongTyped(path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], spec)).map(
              (value) => ({ spec, path, value }),
            ),
          ),
      );
    fc.assert(
      fc.property(cases, ({ spec, path, value }) => {
        inputs += 1;
        const result = apiCredentialSpecSchema.safeParse(replaced(spec, path, value));
        if (result.success) return; // e.g. a number where a number-or-string id is allowed
        const issue = result.error.issues[0];
        expect(issue).toBeDefined();
        const shown = fieldOf(issue?.path ?? []);
        const field = fieldOf(path);
        // The message names the field, or the object that holds it (unions, records).
        expect(field.startsWith(shown) || shown.startsWith(field), `${shown} for a change at ${field}`).toBe(
          true,
        );
        expect(issue?.message.length).toBeGreaterThan(0);
        expect(issue?.message.length).toBeLessThan(500);
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });

  it('random JSON as a spec: a result, never an exception', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        inputs += 1;
        const result = apiCredentialSpecSchema.safeParse(value);
        if (!result.success) expect(result.error.issues.length).toBeGreaterThan(0);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('prototype keys anywhere: no pollution, and no __proto__ in what the operator uses', () => {
    const keys = ['__proto__', 'constructor', 'prototype'];
    const cases = fc.record({
      spec: fc.constantFrom(...VALID),
      key: fc.constantFrom(...keys),
      at: fc.nat(),
      payload: fc.constantFrom('{"polluted":"yes"}', '"x"', '{"oauth2":{"tokenUrl":"http://evil/"}}', 'null'),
    });
    fc.assert(
      fc.property(cases, ({ spec, key, at, payload }) => {
        inputs += 1;
        const objects = leafPaths(spec).filter((path) => {
          const target = path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], spec);
          return typeof target === 'object' && target !== null && !Array.isArray(target);
        });
        const path = objects[at % objects.length] ?? [];
        // As the API server's JSON would carry it: an own property named __proto__.
        const text = JSON.stringify(
          replaced(spec, path, {
            ...(path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], spec) as object),
            MARK: 0,
          }),
        ).replace('"MARK":0', `${JSON.stringify(key)}:${payload}`);
        const result = apiCredentialSpecSchema.safeParse(JSON.parse(text));
        expect(({} as Record<string, unknown>).polluted).toBe(undefined);
        if (result.success) {
          expect(JSON.stringify(result.data)).not.toContain('"__proto__"');
          expect(JSON.stringify(result.data)).not.toContain('http://evil/');
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});
