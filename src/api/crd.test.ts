import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../test/harness/crds.ts';
import { toStructural } from './crd.ts';
import { renderCrdFiles } from './render.ts';

describe('generated CRDs', () => {
  it.each(Object.entries(renderCrdFiles()))(
    '%s is up to date with src/api (run `npm run generate`)',
    (path, content) => {
      expect(readFileSync(join(repoRoot, path), 'utf8')).toBe(content);
    },
  );

  it('turns string-or-integer unions into x-kubernetes-int-or-string', () => {
    expect(toStructural({ anyOf: [{ type: 'string' }, { type: 'integer', minimum: 0 }] })).toEqual({
      'x-kubernetes-int-or-string': true,
    });
  });

  it('refuses schema constructs a structural CRD schema cannot hold', () => {
    expect(() => toStructural({ oneOf: [{ type: 'string' }, { type: 'boolean' }] })).toThrow(
      /cannot express "oneOf"/,
    );
  });
});
