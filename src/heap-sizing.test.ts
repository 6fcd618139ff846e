import { describe, expect, it } from 'vitest';
import { cgroupMemoryLimit, decideHeapSizing, DEFAULT_BUDGET_MIB } from './heap-sizing.ts';

const MIB = 1024 * 1024;
const HOST = 24 * 1024 * MIB;

describe('decideHeapSizing', () => {
  it('gives half of the cgroup limit to the old space and 8 MiB semi-spaces', () => {
    expect(decideHeapSizing({ execArgv: [], env: {}, memoryLimitBytes: 384 * MIB })).toEqual({
      action: 're-exec',
      flags: ['--max-old-space-size=192', '--max-semi-space-size=8', '--optimize-for-size'],
      budgetMiB: 384,
    });
  });

  it('sizes for the default budget when there is no limit', () => {
    expect(decideHeapSizing({ execArgv: [], env: {}, memoryLimitBytes: undefined })).toEqual({
      action: 're-exec',
      flags: [
        `--max-old-space-size=${String(DEFAULT_BUDGET_MIB / 2)}`,
        '--max-semi-space-size=8',
        '--optimize-for-size',
      ],
      budgetMiB: DEFAULT_BUDGET_MIB,
    });
  });

  it('keeps a small limit small: a floor for the old space, semi-spaces within an eighth', () => {
    expect(decideHeapSizing({ execArgv: [], env: {}, memoryLimitBytes: 96 * MIB })).toMatchObject({
      flags: ['--max-old-space-size=64', '--max-semi-space-size=4', '--optimize-for-size'],
    });
  });

  it('adds only the flags the user did not give, in argv or NODE_OPTIONS, in either spelling', () => {
    expect(
      decideHeapSizing({
        execArgv: ['--max-old-space-size-percentage=50'],
        env: {},
        memoryLimitBytes: undefined,
      }),
    ).toMatchObject({ flags: ['--max-semi-space-size=8', '--optimize-for-size'] });
    expect(
      decideHeapSizing({
        execArgv: [],
        env: { NODE_OPTIONS: '--enable-source-maps --max_semi_space_size=16' },
        memoryLimitBytes: 512 * MIB,
      }),
    ).toMatchObject({ flags: ['--max-old-space-size=256', '--optimize-for-size'] });
    expect(
      decideHeapSizing({
        execArgv: ['--optimize-for-size', '--max-old-space-size=300'],
        env: {},
        memoryLimitBytes: undefined,
      }),
    ).toMatchObject({ flags: ['--max-semi-space-size=8'] });
    expect(
      decideHeapSizing({
        execArgv: ['--max-old-space-size=300', '--max-semi-space-size=4'],
        env: {},
        memoryLimitBytes: undefined,
      }),
    ).toEqual({ action: 'keep', reason: 'heap flags given' });
  });

  it('re-executes at most once, and not at all when switched off', () => {
    expect(
      decideHeapSizing({ execArgv: [], env: { APICRED_HEAP_SIZED: '' }, memoryLimitBytes: undefined }),
    ).toEqual({ action: 'keep', reason: 'already re-executed' });
    expect(
      decideHeapSizing({ execArgv: [], env: { APICRED_HEAP_SIZING: 'off' }, memoryLimitBytes: undefined }),
    ).toEqual({ action: 'keep', reason: 'APICRED_HEAP_SIZING=off' });
  });
});

describe('cgroupMemoryLimit', () => {
  const tree =
    (files: Record<string, string>) =>
    (path: string): string | undefined =>
      files[path];

  it('reads cgroup v2 memory.max inside a container (the namespace root)', () => {
    const read = tree({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': '402653184\n' });
    expect(cgroupMemoryLimit(read, HOST)).toBe(384 * MIB);
  });

  it('reads "max" as no limit', () => {
    const read = tree({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': 'max\n' });
    expect(cgroupMemoryLimit(read, HOST)).toBeUndefined();
  });

  it('reads cgroup v1 memory.limit_in_bytes on the path, taking the smallest ancestor limit', () => {
    const read = tree({
      '/proc/self/cgroup': '9:name=systemd:/\n4:memory:/process_api/e30c\n0::/\n',
      '/sys/fs/cgroup/memory/process_api/e30c/memory.limit_in_bytes': '9223372036854771712\n',
      '/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes': String(2048 * MIB),
      '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
    });
    expect(cgroupMemoryLimit(read, HOST)).toBe(2048 * MIB);
  });

  it('finds the v2 hierarchy of a hybrid host under /sys/fs/cgroup/unified', () => {
    const read = tree({
      '/proc/self/cgroup': '4:cpu:/\n0::/user.slice/app\n',
      '/sys/fs/cgroup/unified/user.slice/app/memory.max': String(512 * MIB),
    });
    expect(cgroupMemoryLimit(read, HOST)).toBe(512 * MIB);
  });

  it('ignores v1 "unlimited" and limits at or above the host memory', () => {
    const read = tree({
      '/proc/self/cgroup': '4:memory:/\n',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712',
    });
    expect(cgroupMemoryLimit(read, HOST)).toBeUndefined();
    expect(cgroupMemoryLimit(tree({}), HOST)).toBeUndefined();
  });
});
