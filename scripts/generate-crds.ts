// Writes crds/ from the zod schema. `npm run generate` after changing src/api; a test fails when stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCrdFiles } from '../src/api/render.ts';
import { repoRoot } from '../test/harness/crds.ts';

for (const [relativePath, content] of Object.entries(renderCrdFiles())) {
  writeFileSync(join(repoRoot, relativePath), content);
  console.log(`wrote ${relativePath}`);
}
