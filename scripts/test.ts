// `npm test`: builds what the tiers need (once; later runs reuse the caches), runs every vitest tier,
// and ends with one "N passed, N failed" line.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../test/harness/crds.ts';
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
const reportFile = join(reportDir, 'vitest.json');

try {
  // Real servers the tiers need, built or downloaded once per machine and then reused.
  await ensurePrerequisites();
  // The alert rule tests only; the demo does not need promtool.
  await ensurePromtoolBuilt();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const extraArgs = process.argv.slice(2);
// The node tier (a real kubelet, `npx vitest run --project node`) is not part of `npm test` yet: this
// command does not build the node, and its cold build on a fresh machine is not measured yet.
const tiers = extraArgs.some((arg) => arg.startsWith('--project'))
  ? []
  : ['unit', 'providers', 'integration', 'e2e'].flatMap((tier) => ['--project', tier]);
const code = await run('vitest', [
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${reportFile}`,
  ...tiers,
  ...extraArgs,
]);

if (!existsSync(reportFile)) {
  console.error(`vitest wrote no report to ${reportFile} (exit ${code})`);
  console.log('0 passed, 1 failed');
  process.exit(code === 0 ? 1 : code);
}
const report = JSON.parse(readFileSync(reportFile, 'utf8')) as VitestJsonReport;
const skipped = report.numPendingTests + report.numTodoTests;
console.log(
  `${report.numPassedTests} passed, ${report.numFailedTests} failed` +
    (skipped > 0 ? `, ${skipped} skipped` : ''),
);
process.exit(code !== 0 ? code : report.numTotalTests === 0 ? 1 : 0);
