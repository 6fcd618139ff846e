import { describe, expect, it } from 'vitest';
import { DurationError, formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each<[string, number]>([
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['0', 0],
    ['0s', 0],
    ['2h45m30s500ms', 9_930_500],
    ['1.1h', 3_960_000],
    ['30m1h', 5_400_000],
    ['0.5s', 500],
    ['336h', 1_209_600_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each<[string, string, RegExp]>([
    ['an empty string', '', /invalid duration "": it is empty/],
    ['a bare number', '90', /invalid duration "90": a unit is missing/],
    ['an unknown unit', '5x', /invalid duration "5x": unknown unit "x"; use h, m, s or ms/],
    ['days', '2d', /invalid duration "2d": days are not a unit; write 24h/],
    ['microseconds (not in the CRD pattern)', '300us', /unknown unit "us"/],
    ['a negative value', '-5m', /invalid duration "-5m": a duration cannot be negative/],
    ['a sign', '+5m', /without a sign/],
    ['spaces around it', ' 5m', /remove the surrounding spaces/],
    ['spaces inside it', '5m 30s', /expected a number at " 30s"/],
    ['words', 'soon', /invalid duration "soon": expected a number at "soon"/],
    ['a fraction without leading digits', '.5h', /expected a number at "\.5h"/],
    ['two dots', '1.5.5h', /a unit is missing/],
    ['a unit on its own', 'h', /expected a number/],
    ['a trailing unit-less number', '1h30', /"1h30": a unit is missing/],
    ['an absurd size', `${'9'.repeat(20)}h`, /it is too large/],
  ])('rejects %s', (_, text, message) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
    expect(() => parseDuration(text)).toThrow(message);
  });

  it('records the bad value on the error', () => {
    const error = (() => {
      try {
        parseDuration('7 days');
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DurationError);
    expect((error as DurationError).value).toBe('7 days');
    expect((error as DurationError).name).toBe('DurationError');
  });
});

describe('formatDuration', () => {
  it.each<[number, string]>([
    [0, '0ms'],
    [300, '300ms'],
    [999.4, '999ms'],
    [999.6, '1s'],
    [1500, '1.5s'],
    [59_999, '59.999s'],
    [60_000, '1m'],
    [270_000, '4m30s'],
    [270_400, '4m30s'],
    [270_600, '4m31s'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [3_601_000, '1h1s'],
    [1_209_600_000, '336h'],
    [-270_000, '-4m30s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([270_000, 5_400_000, 1500, 300, 1_209_600_000, 3_601_000])(
    '%d ms round-trips through parseDuration',
    (ms) => {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    },
  );

  it.each([Number.NaN, Infinity, -Infinity])('rejects %d', (ms) => {
    expect(() => formatDuration(ms)).toThrow(RangeError);
  });
});
