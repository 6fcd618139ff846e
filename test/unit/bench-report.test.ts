import { describe, expect, it } from 'vitest';
import { formatGrowth } from '../bench/report.ts';

describe('formatGrowth (the form Flux publishes)', () => {
  it('gives one row per size: objects, duration to all Ready, peak RSS, machine, commit', () => {
    const table = formatGrowth(
      [
        { n: 1_000, creation: { allReadyMs: 12_345 }, memory: { peakRssMiB: 101.4 } },
        { n: 20_000, creation: { allReadyMs: 701_960 }, memory: { peakRssMiB: 300.6 } },
      ],
      { cpus: 2, memoryGiB: 24 },
      'abc1234',
    );
    expect(table.split('\n')).toEqual([
      '| objects | duration | max memory | machine | commit |',
      '|---:|---:|---:|---|---|',
      '| 1,000 | 12.3 s | 101 MiB | 2 cores, 24 GiB | abc1234 |',
      '| 20,000 | 702.0 s | 301 MiB | 2 cores, 24 GiB | abc1234 |',
    ]);
  });
});
