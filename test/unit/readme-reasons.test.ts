// The README's Troubleshooting table must name every reason a user can see in a condition.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../harness/crds.ts';
import { conditionReasonsInSource } from './condition-reasons.ts';

/** Reasons in backticks in the first column-with-reasons of the tables under "## Troubleshooting". */
function troubleshootingReasons(readme: string): Set<string> {
  const section = /^## Troubleshooting\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  const reasons = new Set<string>();
  for (const row of section.split('\n').filter((line) => line.startsWith('|'))) {
    const cells = row.split('|').slice(1, -1);
    for (const [, name] of (cells[1] ?? '').matchAll(/`([A-Z][A-Za-z0-9]+)`/g)) if (name) reasons.add(name);
  }
  return reasons;
}

describe('README troubleshooting table', () => {
  const found = conditionReasonsInSource(repoRoot);

  it('the source scan finds reasons of every kind of origin', () => {
    const names = found.map((entry) => entry.reason);
    // A literal in the controller, a ProviderError, a [pattern, kind, reason] table, a fallback tuple,
    // a warning reason: if one of these stops being found, the scan is broken, not the README.
    expect(names).toEqual(
      expect.arrayContaining([
        'TokenValid',
        'InvalidClient',
        'TenantUnauthorized',
        'TenantTokenFailed',
        'ClockSkew',
      ]),
    );
    // An ExpiryError reason that no provider passes on: the scan must not count the internal ones.
    expect(names).not.toContain('NoExpiry');
  });

  it('documents every condition reason the source can set', () => {
    const documented = troubleshootingReasons(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
    const missing = found
      .filter((entry) => !documented.has(entry.reason))
      .map((e) => `${e.reason} (${e.file})`);
    expect(missing, `reasons missing from the README's Troubleshooting table: ${missing.join(', ')}`).toEqual(
      [],
    );
  });
});
