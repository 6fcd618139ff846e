import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from './retry-after.ts';

const now = Date.parse('2026-03-01T12:00:00Z');

describe('parseRetryAfter', () => {
  it.each([
    ['120', 120_000],
    [' 5 ', 5_000],
    ['0', 0],
    ['2', 2_000],
    ['3600', MAX_RETRY_AFTER_MS],
    ['86400', MAX_RETRY_AFTER_MS],
    ['99999999999999999999999', MAX_RETRY_AFTER_MS],
    // IMF-fixdate, RFC 850 and asctime forms.
    ['Sun, 01 Mar 2026 12:00:30 GMT', 30_000],
    ['Sunday, 01-Mar-26 12:01:00 GMT', 60_000],
    ['Sun Mar  1 12:00:10 2026', 10_000],
    ['Sun, 01 Mar 2026 11:00:00 GMT', 0], // in the past: ask again now
    ['Mon, 02 Mar 2026 12:00:00 GMT', MAX_RETRY_AFTER_MS],
  ])('%j → %i ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  // '1.5' and '2026-03-01T12:00:30Z' are dates to Date.parse, but not Retry-After values.
  it.each([
    undefined,
    '',
    '-5',
    '1.5',
    '5s',
    'soon',
    'Sun, 99 Foo 2026 99:99:99 GMT',
    '2026-03-01T12:00:30Z',
  ])('%j is ignored', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
