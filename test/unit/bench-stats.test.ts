import { describe, expect, it } from 'vitest';
import { percentile, ratio, summarize } from '../bench/stats.ts';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('picks the sample at the rank, not an interpolation', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
    expect(percentile([10, 20, 30, 40], 51)).toBe(30);
  });

  it('gives the only sample for any percentile of one', () => {
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  it('refuses no samples and percentiles outside (0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('sorts before ranking and reports count, extremes and mean', () => {
    const summary = summarize([3, -1, 2, 10, 1]);
    expect(summary).toEqual({ count: 5, min: -1, p50: 2, p90: 10, p99: 10, max: 10, mean: 3 });
  });

  it('has nothing to say about no samples', () => {
    expect(summarize([])).toBeUndefined();
  });

  it('keeps a single late outlier visible at p99 of 100 samples only when it is in the top 1%', () => {
    const samples = [...Array.from({ length: 99 }, () => 0.1), 30];
    expect(summarize(samples)?.p99).toBe(0.1);
    expect(summarize(samples)?.max).toBe(30);
  });
});

describe('ratio', () => {
  it('divides, and is undefined for a zero denominator', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(1, 0)).toBeUndefined();
  });
});
