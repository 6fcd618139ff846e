import { describe, expect, it } from 'vitest';
import { safeExcerpt } from './excerpt.ts';

const jwt =
  'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcmRlcnMiLCJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMTIzNDU2Nzg5MA';
const opaque = 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG8';

describe('safeExcerpt', () => {
  it.each([
    [
      '<html><title>502 Bad Gateway</title></html>',
      'text/html',
      '<html><title>502 Bad Gateway</title></html>',
    ],
    ['', 'text/plain', '(empty body)'],
    ['   \n', undefined, '(empty body)'],
    [
      'access_token=abc123&expires_in=300',
      'application/x-www-form-urlencoded',
      '(form-encoded body not shown)',
    ],
    ['access_token=abc123&expires_in=300', 'text/plain', 'access_token=[redacted]&expires_in=300'],
    ['{"refresh_token": "r-1", "x": 1', 'application/json', '{"refresh_token": "[redacted]", "x": 1'],
    ["password: 'hunter2' rejected", 'text/plain', "password: '[redacted]' rejected"],
    ['X-Api-Key=k1;', 'text/plain', 'X-Api-Key=[redacted];'],
    [`Bearer ${jwt} expired`, 'text/plain', 'Bearer [redacted] expired'],
    [`session ${opaque}`, 'text/plain', 'session [redacted]'],
    ['line one\r\nline\ttwo\u0000', 'text/plain', 'line one line two'],
  ])('%j (%s) → %j', (text, type, expected) => {
    expect(safeExcerpt(text, type)).toBe(expected);
  });

  it('never shows a secret-looking value and stays short', () => {
    const text = `<p>${'x'.repeat(300)}</p> token=${opaque}`;
    const result = safeExcerpt(text, 'text/html', 100);
    expect(result.length).toBeLessThanOrEqual(101);
    expect(result).not.toContain(opaque);
    expect(safeExcerpt(`a ${jwt} b ${opaque}`, 'text/plain')).toBe('a [redacted] b [redacted]');
  });
});
