import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import { prepareRequest } from './request.ts';
import type { HttpRequest } from './types.ts';

const UA = 'apicred-operator/test';

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('prepareRequest', () => {
  it('splits the URL and describes the request without its query string', () => {
    const prepared = prepareRequest(
      { method: 'GET', url: 'https://kc.example:8443/realms/a/b?code=secret#frag' },
      UA,
    );
    expect(prepared).toEqual({
      method: 'GET',
      origin: 'https://kc.example:8443',
      path: '/realms/a/b?code=secret',
      headers: { 'user-agent': UA },
      body: undefined,
      host: 'kc.example:8443',
      hostname: 'kc.example',
      target: 'GET kc.example:8443/realms/a/b',
    });
  });

  it('unbrackets IPv6 hosts for the address check', () => {
    expect(prepareRequest({ method: 'GET', url: 'http://[::1]:8080/x' }, UA)).toMatchObject({
      origin: 'http://[::1]:8080',
      host: '[::1]:8080',
      hostname: '::1',
    });
  });

  it.each<[string, Partial<HttpRequest>, string | undefined, string | undefined]>([
    [
      'form',
      { form: { grant_type: 'client_credentials', scope: 'a b', x: '&=' } },
      'grant_type=client_credentials&scope=a+b&x=%26%3D',
      'application/x-www-form-urlencoded',
    ],
    ['json', { json: { loginName: 'u', n: 1 } }, '{"loginName":"u","n":1}', 'application/json'],
    ['json null', { json: null }, 'null', 'application/json'],
    ['body', { body: 'raw' }, 'raw', undefined],
    ['nothing', {}, undefined, undefined],
  ])('encodes %s', (_name, fields, body, contentType) => {
    const prepared = prepareRequest({ method: 'POST', url: 'http://h/t', ...fields }, UA);
    expect(prepared.body).toBe(body);
    expect(prepared.headers['content-type']).toBe(contentType);
  });

  it('keeps a content type and user agent the caller chose, matching names in any case', () => {
    const prepared = prepareRequest(
      {
        method: 'POST',
        url: 'http://h/t',
        json: {},
        headers: { 'Content-Type': 'application/vnd+json', 'User-Agent': 'x/1' },
      },
      UA,
    );
    expect(prepared.headers).toEqual({ 'content-type': 'application/vnd+json', 'user-agent': 'x/1' });
  });

  it('takes at most one body', () => {
    expect(() => prepareRequest({ method: 'POST', url: 'http://h/t', form: {}, json: {} }, UA)).toThrow(
      TypeError,
    );
    expect(() => prepareRequest({ method: 'POST', url: 'http://h/t', body: '', json: {} }, UA)).toThrow(
      TypeError,
    );
  });

  it.each([
    ['not a url ?token=s3cr3t', 'not an absolute URL'],
    ['/relative?token=s3cr3t', 'not an absolute URL'],
    ['ftp://files.example/x?token=s3cr3t', 'only http and https URLs are supported, not ftp:'],
    ['https://user:s3cr3t@kc.example/x', 'the URL carries a user name or password'],
  ])('refuses %j as a terminal InvalidURL without echoing secrets', (url, message) => {
    const error = caught(() => prepareRequest({ method: 'GET', url }, UA));
    expect(ProviderError.is(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'terminal', reason: 'InvalidURL' });
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('s3cr3t');
  });

  it('refuses a header value with a line break, naming the header but not the value', () => {
    const error = caught(() =>
      prepareRequest({ method: 'GET', url: 'http://h/t', headers: { Authorization: 'Bearer s3cr3t\n' } }, UA),
    );
    expect(error).toMatchObject({ kind: 'terminal', reason: 'InvalidHeaderValue' });
    expect((error as Error).message).toContain('header Authorization');
    expect((error as Error).message).not.toContain('s3cr3t');
  });
});
