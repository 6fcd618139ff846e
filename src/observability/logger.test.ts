import { ApiException } from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import { createLogger, redactPaths } from './logger.ts';
import type { LoggerOptions } from './logger.ts';
import { REDACTED, SecretRedactor } from './redactor.ts';

// Values the controller would register: a client secret, an access token, a refresh token.
const CLIENT_SECRET = 'cs-7f3a9b2e4d1c';
const ACCESS_TOKEN = 'at.Qm9vbS1hY2Nlc3MtdG9rZW4';
const REFRESH_TOKEN = 'rt_0123456789abcdef';
const PLANTED = [CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN];

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function capture(options: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  const redactor = new SecretRedactor();
  for (const value of PLANTED) redactor.add(value, 'team-a/orders');
  const logger = createLogger({
    level: 'debug',
    redactor,
    destination: {
      write(line: string) {
        lines.push(line);
      },
    },
    ...options,
  });
  const output = () => lines.join('');
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, redactor, output, records };
}

function expectNoSecrets(output: string): void {
  for (const value of PLANTED) {
    expect(output).not.toContain(value);
    expect(output).not.toContain(b64(value));
    expect(output).not.toContain(encodeURIComponent(value));
  }
}

describe('createLogger', () => {
  it('writes JSON lines with a level label and ISO time, and keeps ordinary fields', () => {
    const { logger, records } = capture({ base: { controller: 'apicredential' } });
    logger.info({ namespace: 'team-a', name: 'orders', attempts: 3, tokenType: 'Bearer' }, 'token written');
    logger.debug('details');
    expect(records()).toEqual([
      expect.objectContaining({
        level: 'info',
        controller: 'apicredential',
        namespace: 'team-a',
        name: 'orders',
        attempts: 3,
        tokenType: 'Bearer',
        msg: 'token written',
      }),
      expect.objectContaining({ level: 'debug', msg: 'details' }),
    ]);
    expect(records()[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('respects the level', () => {
    const { logger, records } = capture({ level: 'warn' });
    logger.info('hidden');
    logger.warn('shown');
    expect(records().map((r) => r.msg)).toEqual(['shown']);
  });

  it('removes registered values from messages, nested objects, arrays and format arguments', () => {
    const { logger, output, records } = capture();
    logger.info(`posting client_id=app and secret ${CLIENT_SECRET} to the token endpoint`);
    logger.info(
      {
        credential: 'team-a/orders',
        result: {
          list: [{ note: `got ${ACCESS_TOKEN}` }, { deeper: { deepest: { value: REFRESH_TOKEN } } }],
        },
        dataAsOnTheWire: { token: b64(ACCESS_TOKEN) },
        encoded: `refresh=${encodeURIComponent(REFRESH_TOKEN)}`,
        also: [b64(CLIENT_SECRET)],
      },
      'renewed with %s and %o',
      ACCESS_TOKEN,
      { nested: CLIENT_SECRET },
    );
    expectNoSecrets(output());
    const [first, second] = records();
    expect(first?.msg).toBe(`posting client_id=app and secret ${REDACTED} to the token endpoint`);
    expect(second).toMatchObject({
      credential: 'team-a/orders',
      result: { list: [{ note: `got ${REDACTED}` }, { deeper: { deepest: { value: REDACTED } } }] },
      msg: `renewed with ${REDACTED} and {"nested":"${REDACTED}"}`,
    });
  });

  it('censors credential-named fields at any depth even when the values were never registered', () => {
    const { logger, output, records } = capture();
    logger.info({
      request: {
        method: 'POST',
        headers: { Authorization: 'Basic dW5rbm93bjp2YWx1ZQ==', 'content-type': 'application/json' },
        form: { grant_type: 'client_credentials', client_secret: 'unregistered-1' },
      },
      a: { b: { c: { d: { e: { password: 'unregistered-2', clientSecret: 'unregistered-3' } } } } },
      secret: { metadata: { name: 'orders-token' }, data: { token: 'dW5yZWdpc3RlcmVkLTQ=' } },
      list: [[{ id_token: 'unregistered-5', 'set-cookie': ['unregistered-6'] }]],
    });
    expect(output()).not.toMatch(/unregistered|dW5r/);
    expect(records()[0]).toMatchObject({
      request: {
        method: 'POST',
        headers: { Authorization: REDACTED, 'content-type': REDACTED },
        form: REDACTED,
      },
      secret: { metadata: { name: 'orders-token' }, data: REDACTED },
    });
  });

  it('redacts child bindings and base fields', () => {
    const { logger, output, records } = capture({ base: { token: 'base-token-value' } });
    const child = logger.child({ credential: 'team-a/orders', authorization: 'Bearer child-binding-token' });
    child.info('hi');
    child.child({ nested: { password: 'grandchild-password' } }).info(`token ${ACCESS_TOKEN}`);
    const rebound = logger.child({});
    rebound.setBindings({ later: { clientSecret: 'set-bindings-secret' } });
    rebound.info('rebound');
    expect(output()).not.toMatch(
      /base-token-value|child-binding-token|grandchild-password|set-bindings-secret/,
    );
    expectNoSecrets(output());
    expect(records()[0]).toMatchObject({ credential: 'team-a/orders', msg: 'hi' });
    expect(records()[1]).toMatchObject({ credential: 'team-a/orders', msg: `token ${REDACTED}` });
  });

  it("keeps an error's safe fields and scrubs secrets from its message and stack", () => {
    const { logger, output, records } = capture();
    const error = new ProviderError(
      {
        kind: 'terminal',
        reason: 'InvalidClient',
        message: `the provider rejected client secret ${CLIENT_SECRET}`,
        httpStatus: 401,
      },
      {
        cause: Object.assign(new Error(`body was ${REFRESH_TOKEN}`), {
          body: { refresh_token: REFRESH_TOKEN },
        }),
      },
    );
    logger.error({ err: error, credential: 'team-a/orders' }, 'renewal failed');
    logger.warn(error);
    expectNoSecrets(output());
    const [first, second] = records();
    expect(first).toMatchObject({
      msg: 'renewal failed',
      err: {
        name: 'ProviderError',
        kind: 'terminal',
        reason: 'InvalidClient',
        httpStatus: 401,
        message: `the provider rejected client secret ${REDACTED}`,
        cause: { message: `body was ${REDACTED}` },
      },
    });
    expect((first?.err as { stack: string }).stack).toMatch(
      /^ProviderError: the provider rejected .*\n\s+at /,
    );
    expect(second?.msg).toBe(`the provider rejected client secret ${REDACTED}`);
  });

  it('never writes the body or headers of a client-node ApiException, in the message either', () => {
    const { logger, output, records } = capture();
    const status = JSON.stringify({
      kind: 'Status',
      message: 'secrets "x" is forbidden',
      reason: 'Forbidden',
    });
    const error = new ApiException(403, 'Forbidden', status, {
      authorization: 'Bearer sa-token-unregistered',
    });
    logger.error(error);
    logger.error({ err: error });
    logger.error({ error }, 'apply failed');
    expect(output()).not.toContain('sa-token-unregistered');
    expect(output()).not.toContain('Headers:');
    const [first, second, third] = records();
    expect(first?.msg).toBe('HTTP 403: secrets "x" is forbidden');
    expect(second?.msg).toBe('HTTP 403: secrets "x" is forbidden');
    expect(third).toMatchObject({ msg: 'apply failed', error: { code: 403, reason: 'Forbidden' } });
  });

  it('scrubs values registered after the logger was created and forgets removed ones', () => {
    const { logger, redactor, records } = capture();
    logger.info('new token new-access-token-2');
    redactor.add('new-access-token-2');
    logger.info('new token new-access-token-2');
    redactor.remove('new-access-token-2');
    logger.info('new token new-access-token-2');
    expect(records().map((r) => r.msg)).toEqual([
      'new token new-access-token-2',
      `new token ${REDACTED}`,
      'new token new-access-token-2',
    ]);
  });

  it('names the credential on every line when a secret is spelled like its name, and still redacts the secret', () => {
    // The client_id of `acc-h/orders` is `orders`; client ids are not registered, but a secret
    // spelled like a name (here another credential's) must not erase the name either.
    const { logger, redactor, records, output } = capture();
    redactor.add('orders', 'acc-h/billing');
    redactor.add('pw5!x', 'acc-h/orders');
    logger.info({ credential: 'acc-h/orders', provider: 'oauth2', why: 'initial' }, 'token written');
    logger.warn(
      {
        credential: 'acc-h/orders',
        reason: 'InvalidClient',
        message: 'Secret acc-h/orders-client: pw5!x refused',
      },
      'token request failed',
    );
    logger.info(`client secret ${CLIENT_SECRET} and orders, on a line about no credential`);
    const [written, failed, other] = records();
    expect(written).toMatchObject({ credential: 'acc-h/orders', msg: 'token written' });
    expect(failed).toMatchObject({
      credential: 'acc-h/orders',
      message: `Secret acc-h/orders-client: ${REDACTED} refused`,
    });
    expect(other?.msg).toBe(`client secret ${REDACTED} and ${REDACTED}, on a line about no credential`);
    expect(output()).not.toContain('pw5!x');
    expectNoSecrets(output());
  });

  it('redacts unregistered JWTs and credential query parameters in messages', () => {
    const { logger, output } = capture();
    logger.info(
      'fetched https://idp.example/t?access_token=qwertyuiop123 -> eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abc',
    );
    expect(output()).not.toMatch(/qwertyuiop123|eyJzdWIi/);
  });
});

describe('redactPaths', () => {
  it("are valid pino paths that censor the listed names in their usual spellings on pino's own", () => {
    const lines: string[] = [];
    const plain = pino(
      { redact: { paths: redactPaths(), censor: REDACTED } },
      {
        write(line: string) {
          lines.push(line);
        },
      },
    );
    plain.info({
      authorization: 'v1',
      Authorization: 'v2',
      'X-SPACE-AUTH-KEY': 'v3',
      'x-space-auth-key': 'v4',
      'Access-Token': 'v5',
      access_token: 'v6',
      Cookie: 'v7',
      'Set-Cookie': 'v8',
      clientSecret: 'v9',
      stringData: { k: 'v10' },
      headers: { 'content-type': 'v11' },
      keep: 'visible',
    });
    expect(lines.join('')).not.toMatch(/"v\d+"/);
    expect(lines.join('')).toContain('visible');
  });
});
