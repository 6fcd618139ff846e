// The image runs dist/main.js: the fault suite's hooks must not be in it, while src/ keeps them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist } from '../../scripts/build.ts';
import { repoRoot } from '../harness/crds.ts';

const CRASH_POINT_NAMES = [
  'idempiere:after-intent-write',
  'idempiere:after-refresh-response',
  'idempiere:after-state-write',
  'oauth2-refresh:after-intent-write',
  'oauth2-refresh:after-refresh-response',
  'oauth2-refresh:after-state-write',
  'oauth2-device:after-intent-write',
  'oauth2-device:after-refresh-response',
  'oauth2-device:after-state-write',
  'controller:before-secret-write',
  'controller:after-secret-write',
  'rollout:before-marker-clear',
];

describe('dist/main.js', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'apicred-dist-'));
  let bundle = '';
  beforeAll(async () => {
    await buildDist(outDir);
    bundle = readFileSync(join(outDir, 'main.js'), 'utf8');
  }, 60_000);
  afterAll(() => {
    rmSync(outDir, { recursive: true, force: true });
  });

  it('carries neither the crash points nor the watch delay', () => {
    expect(bundle.length).toBeGreaterThan(100_000);
    const found = [
      'APICRED_CRASH_AT',
      'APICRED_WATCH_DELAY',
      'crashPoint',
      'SIGKILL',
      ...CRASH_POINT_NAMES,
    ].filter((needle) => bundle.includes(needle));
    expect(found).toEqual([]);
  });

  it('lists every crash point the source declares', () => {
    const source = readFileSync(join(repoRoot, 'src/testing/crash-points.ts'), 'utf8');
    const declared = [...source.matchAll(/\| '([a-z0-9-]+:[a-z-]+)'/g)].map((match) => match[1]);
    expect(declared.sort()).toEqual([...CRASH_POINT_NAMES].sort());
  });
});

describe('src/ keeps the hooks for the fault suite', () => {
  it('a named crash point SIGKILLs the process that runs from src/', () => {
    const script =
      "import { crashPoint } from './src/testing/crash-points.ts'; crashPoint('controller:before-secret-write'); console.log('survived');";
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repoRoot,
      env: { ...process.env, APICRED_CRASH_AT: 'controller:before-secret-write' },
      encoding: 'utf8',
    });
    expect(result.signal).toBe('SIGKILL');
    expect(result.stdout).not.toContain('survived');
  });
});
