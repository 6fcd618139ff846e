// `npm test`: builds what the tiers need (once; later runs reuse the caches), runs every vitest tier,
// and ends with one "N passed, N failed" line.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../test/harness/crds.ts';
import { ensureNodeBuilt } from '../test/node/build.ts';
import { ensureImageBuilt } from './image/build.ts';
import { ensurePromtoolBuilt } from '../test/promtool/build.ts';
import { ensurePrerequisites } from './prerequisites.ts';

interface VitestJsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
}

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => {
      resolve(code ?? 1);
    });
  });
}

const reportDir = join(repoRoot, 'test-results');
mkdirSync(reportDir, { recursive: true });

function fail(message: string): never {
  console.error(message);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const extraArgs = process.argv.slice(2);
const projectsChosen = extraArgs.some((arg) => arg.startsWith('--project'));
const nodeTierFiles = extraArgs.some((arg) => arg.includes('node-tier'));
// The node tier (a real kubelet and containerd, test/node-tier/) runs as its own vitest invocation
// after the others: it starts its own control plane and node, and one node runs per machine.
// A file or name filter (`npm test -- test/integration/x.test.ts`) runs just what it names.
const withNodeTier = !projectsChosen && !extraArgs.some((arg) => !arg.startsWith('-'));
if (withNodeTier && process.getuid?.() !== 0) {
  fail(
    'npm test runs the node tier (a kubelet and containerd, which need root): run it as root, or pick ' +
      'tiers with `npm test -- --project unit --project providers --project integration --project e2e`',
  );
}

try {
  // Real servers the tiers need, built or downloaded once per machine and then reused.
  await ensurePrerequisites();
  // The alert rule tests only; the demo does not need promtool.
  await ensurePromtoolBuilt();
  if (withNodeTier || nodeTierFiles) {
    await ensureNodeBuilt();
    // The journey runs the operator image; built here, a cold build (debootstrap) is not in its hook's time.
    await ensureImageBuilt();
  }
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}

/** One vitest invocation; its JSON report, or why there is none. */
async function vitest(name: string, args: string[]): Promise<{ code: number; report?: VitestJsonReport }> {
  const reportFile = join(reportDir, `${name}.json`);
  rmSync(reportFile, { force: true });
  const code = await run('vitest', [
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${reportFile}`,
    ...args,
  ]);
  if (!existsSync(reportFile)) {
    console.error(`vitest wrote no report to ${reportFile} (exit ${String(code)})`);
    return { code: code === 0 ? 1 : code };
  }
  return { code, report: JSON.parse(readFileSync(reportFile, 'utf8')) as VitestJsonReport };
}

const tiers = projectsChosen
  ? []
  : (nodeTierFiles ? ['node'] : ['unit', 'providers', 'integration', 'e2e']).flatMap((tier) => [
      '--project',
      tier,
    ]);
const runs = [await vitest('vitest', [...tiers, ...extraArgs])];
if (withNodeTier) runs.push(await vitest('vitest-node', ['--project', 'node']));

const total = { passed: 0, failed: 0, skipped: 0, tests: 0 };
for (const { code, report } of runs) {
  if (!report) {
    total.failed += 1;
    continue;
  }
  total.passed += report.numPassedTests;
  total.failed += report.numFailedTests + (code !== 0 && report.numFailedTests === 0 ? 1 : 0);
  total.skipped += report.numPendingTests + report.numTodoTests;
  total.tests += report.numTotalTests;
}
console.log(
  `${String(total.passed)} passed, ${String(total.failed)} failed` +
    (total.skipped > 0 ? `, ${String(total.skipped)} skipped` : ''),
);
// A run that exited non-zero or wrote no report already counts as a failure above.
process.exit(total.failed === 0 && total.tests > 0 ? 0 : 1);
