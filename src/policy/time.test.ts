import { describe, expect, it } from 'vitest';
import { earliest, formatTime } from './time.ts';

const AT = Date.UTC(2026, 11, 2, 12, 0, 5, 123);

describe('formatTime', () => {
  it.each<[number | undefined, Parameters<typeof formatTime>[1], string | undefined]>([
    [AT, 'seconds', '2026-12-02T12:00:05Z'],
    [AT, 'milliseconds', '2026-12-02T12:00:05.123Z'],
    [Date.UTC(2026, 0, 1), 'seconds', '2026-01-01T00:00:00Z'],
    [Date.UTC(2026, 0, 1), 'milliseconds', '2026-01-01T00:00:00.000Z'],
    [undefined, 'seconds', undefined],
    [undefined, 'milliseconds', undefined],
  ])('%s as %s: %s', (ms, format, expected) => {
    expect(formatTime(ms, format)).toBe(expected);
  });

  it('seconds truncates, never rounds up', () => {
    expect(formatTime(Date.UTC(2026, 0, 1, 0, 0, 0, 999), 'seconds')).toBe('2026-01-01T00:00:00Z');
  });

  it('throws on a time Date cannot hold, like toISOString', () => {
    expect(() => formatTime(Number.NaN, 'seconds')).toThrow(RangeError);
  });
});

describe('earliest', () => {
  it.each<[(number | undefined)[], number | undefined]>([
    [[], undefined],
    [[undefined, undefined], undefined],
    [[3, undefined, 1], 1],
    [[undefined, 7], 7],
    [[5, 5], 5],
  ])('%j: %s', (times, expected) => {
    expect(earliest(...times)).toBe(expected);
  });
});
