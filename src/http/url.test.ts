import { describe, expect, it } from 'vitest';
import { hostAndPath } from './url.ts';

describe('hostAndPath', () => {
  it.each<[string, string | URL, string]>([
    [
      'drops the scheme and the query',
      'https://idp.example/realms/a/token?code=secret',
      'idp.example/realms/a/token',
    ],
    ['keeps a port', 'http://10.0.0.1:8080/api/v1/auth/tokens', '10.0.0.1:8080/api/v1/auth/tokens'],
    ['drops user info and the fragment', 'https://user:pw@host.example/x#frag', 'host.example/x'],
    ['a bare origin has path /', 'https://host.example', 'host.example/'],
    ['takes a URL object', new URL('https://[::1]:8443/p?q=1'), '[::1]:8443/p'],
  ])('%s', (_, url, expected) => {
    expect(hostAndPath(url)).toBe(expected);
  });

  it('throws on a relative URL, like new URL', () => {
    expect(() => hostAndPath('/token')).toThrow(TypeError);
  });
});
