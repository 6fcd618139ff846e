import { describe, expect, it } from 'vitest';
import { hostAndPath } from './url.ts';

// The URL given, and how a message names it: no scheme, user info, query or fragment.
const named: Record<string, string> = {
  'https://idp.example/realms/a/token?code=secret': 'idp.example/realms/a/token',
  'http://10.0.0.1:8080/api/v1/auth/tokens': '10.0.0.1:8080/api/v1/auth/tokens',
  'https://user:pw@host.example/x#frag': 'host.example/x',
  'https://host.example': 'host.example/',
};

describe('hostAndPath', () => {
  it.each(Object.entries(named))('%s is named %s', (url, expected) => {
    expect(hostAndPath(url)).toBe(expected);
  });

  it('takes a URL object too', () => {
    expect(hostAndPath(new URL('https://[::1]:8443/p?q=1'))).toBe('[::1]:8443/p');
  });

  it('throws on a relative URL, like new URL', () => {
    expect(() => hostAndPath('/token')).toThrow(TypeError);
  });
});
