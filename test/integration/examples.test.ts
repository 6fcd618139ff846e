// Every example the README documents is accepted, as is, by the real apiserver with the real CRD.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { adminKubeConfig, kubectl } from '../harness/controlplane.ts';
import { repoRoot } from '../harness/crds.ts';
import { ensureNamespace } from '../harness/identity.ts';
import { TestKube } from '../harness/kube.ts';

const plane = inject('controlPlane');
const namespace = `examples-${randomBytes(3).toString('hex')}`;
const examples = readdirSync(join(repoRoot, 'examples'))
  .filter((file) => file.endsWith('.yaml'))
  .sort();

beforeAll(async () => {
  await ensureNamespace(new TestKube(adminKubeConfig(plane)).core, namespace);
});

describe('examples/', () => {
  it('holds the documented examples', () => {
    expect(examples).toEqual(
      expect.arrayContaining(['idmp-cloud.yaml', 'idmp.yaml', 'keycloak.yaml', 'tapdata.yaml']),
    );
  });

  it.each(examples)('%s applies cleanly', async (file) => {
    const output = await kubectl(plane, [
      'apply',
      '--dry-run=server',
      '-n',
      namespace,
      '-f',
      join(repoRoot, 'examples', file),
    ]);
    expect(output).toMatch(/apicredential\.apicred\.dev\/\S+ created \(server dry run\)/);
  });
});
