import { describe, expect, it } from 'vitest';
import { REDACTED } from './redactor.ts';
import { isSensitiveKey, sanitize, sanitizeRecord } from './sanitize.ts';

describe('sanitizeRecord', () => {
  it('censors credential-named fields at any depth and in any spelling', () => {
    const record = {
      namespace: 'team-a',
      a: { b: { c: { d: { e: [{ f: { Authorization: 'Bearer x', 'X-SPACE-AUTH-KEY': 'Basic y' } }] } } } },
      refreshToken: 'r',
      ACCESS_TOKEN: 'a',
      'Access-token': 'h',
      client_secret: 's',
      secret: { data: { token: 'dG9r' }, stringData: { password: 'p' } },
      tokenType: 'Bearer',
      expiresAt: '2026-01-01T00:00:00Z',
    };
    expect(sanitizeRecord(record)).toEqual({
      namespace: 'team-a',
      a: { b: { c: { d: { e: [{ f: { Authorization: REDACTED, 'X-SPACE-AUTH-KEY': REDACTED } }] } } } },
      refreshToken: REDACTED,
      ACCESS_TOKEN: REDACTED,
      'Access-token': REDACTED,
      client_secret: REDACTED,
      secret: { data: REDACTED, stringData: REDACTED },
      tokenType: 'Bearer',
      expiresAt: '2026-01-01T00:00:00Z',
    });
  });

  it('keeps header names and censors their values', () => {
    expect(
      sanitizeRecord({ response: { status: 401, headers: { 'content-type': 'json', 'x-a': 'b' } } }),
    ).toEqual({
      response: { status: 401, headers: { 'content-type': REDACTED, 'x-a': REDACTED } },
    });
    expect(sanitizeRecord({ headers: new Headers({ authorization: 'x' }) })).toEqual({ headers: REDACTED });
    expect(sanitizeRecord({ headers: ['authorization', 'x'] })).toEqual({ headers: REDACTED });
  });

  it('does not modify what it was given', () => {
    const record = { nested: { password: 'p', keep: 1 } };
    sanitizeRecord(record);
    expect(record.nested.password).toBe('p');
  });

  it('turns errors, buffers, URLs, maps and cycles into safe values', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const out = sanitizeRecord({
      error: Object.assign(new Error('boom'), { body: 'response-body' }),
      raw: Buffer.from('secret bytes'),
      url: new URL('https://user:pw@idp.example/token?client_secret=abc#frag'),
      map: new Map([['password', 'p']]),
      set: new Set(['a']),
      cyclic,
    });
    expect(out.error).toMatchObject({ name: 'Error', message: 'boom' });
    expect(JSON.stringify(out.error)).not.toContain('response-body');
    expect(out.raw).toBe('[binary, 12 bytes]');
    expect(out.url).toBe('https://idp.example/token');
    expect(out.map).toEqual({ password: REDACTED });
    expect(out.set).toEqual(['a']);
    expect(out.cyclic).toEqual({ name: 'loop', self: '[circular]' });
  });

  it('stops at a bounded depth', () => {
    let deep: Record<string, unknown> = { leaf: 'x' };
    for (let i = 0; i < 40; i++) deep = { deep };
    expect(JSON.stringify(sanitize(deep))).toContain('[too deep]');
  });

  it('matches the brief list of credential names', () => {
    for (const key of [
      'authorization',
      'x-space-auth-key',
      'access-token',
      'id_token',
      'assertion',
      'cookie',
    ]) {
      expect(isSensitiveKey(key)).toBe(true);
    }
    for (const key of ['tokenType', 'token_type', 'expiresAt', 'name', 'secretName']) {
      expect(isSensitiveKey(key)).toBe(false);
    }
  });
});
