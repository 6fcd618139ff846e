// The image runs dist/main.js: the fault suite's hooks must not be in it, while src/ keeps them.
import { spawnSync } from 'node:child_process';
import { SourceMap, type SourceMapPayload } from 'node:module';
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
  let map: SourceMapPayload;
  beforeAll(async () => {
    await buildDist(outDir);
    bundle = readFileSync(join(outDir, 'main.js'), 'utf8');
    map = JSON.parse(readFileSync(join(outDir, 'main.js.map'), 'utf8')) as SourceMapPayload;
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

  it('is pure ASCII (a one-byte string in V8), escaped where it had regular expressions in other scripts', () => {
    expect(bundle.match(/[^\t\n\r\x20-\x7e]/g)).toBeNull();
    // src/providers/idmp.ts's CAPTCHA pattern, and a token after it on the same generated line.
    const escaped = bundle.indexOf('verification code|\\u9a8c\\u8bc1\\u7801/i');
    expect(escaped).toBeGreaterThan(0);
    const after = bundle.indexOf('function ', escaped);
    const lineStart = bundle.lastIndexOf('\n', after) + 1;
    const line = bundle.slice(0, lineStart).split('\n').length - 1;
    const entry = new SourceMap(map).findEntry(line, after - lineStart);
    expect(entry).toMatchObject({ generatedLine: line, generatedColumn: after - lineStart });
    if (!('originalSource' in entry)) throw new Error('no mapping for the token after the escape');
    const source = map.sources.indexOf(entry.originalSource);
    const original = (map.sourcesContent[source] ?? '').split('\n')[entry.originalLine] ?? '';
    expect(entry.originalSource).toMatch(/src\/providers\/idmp\.ts$/);
    expect(original.slice(entry.originalColumn)).toMatch(/^function /);
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
