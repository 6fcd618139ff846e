// The chart's alerts, proven with Prometheus's own rule tester: the PrometheusRule is rendered by the
// real Helm, its groups become a rules file, and `promtool test rules` runs test/promtool/*.test.yaml
// against it (not Ready, expiring soon, renewal failing, renewal stalled, and a leader change between two replicas).
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderChart } from '../helm/chart.ts';
import { ensurePromtoolBuilt } from '../promtool/build.ts';

const execFileAsync = promisify(execFile);
const casesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'promtool');
const caseFiles = readdirSync(casesDir).filter((file) => file.endsWith('.test.yaml'));
let promtool = '';
let workDir = '';

interface PromtoolResult {
  code: number;
  output: string;
}

async function runPromtool(args: string[]): Promise<PromtoolResult> {
  try {
    const { stdout, stderr } = await execFileAsync(promtool, args, { cwd: workDir });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, output: (failed.stdout ?? '') + (failed.stderr ?? '') };
  }
}

/** Renders the chart's PrometheusRule with these values and writes its groups as a Prometheus rules file. */
async function writeRules(values: Record<string, unknown> = {}): Promise<void> {
  const objects = await renderChart({
    values: { metrics: { prometheusRule: { enabled: true, ...values } } },
  });
  const rules = objects.filter((object) => object.kind === 'PrometheusRule');
  expect(rules).toHaveLength(1);
  const spec = (rules[0] as unknown as { spec: { groups: unknown[] } }).spec;
  writeFileSync(join(workDir, 'rules.yaml'), stringify({ groups: spec.groups }));
}

beforeAll(async () => {
  promtool = await ensurePromtoolBuilt();
  workDir = mkdtempSync(join(tmpdir(), 'apicred-promtool-'));
  for (const file of caseFiles) copyFileSync(join(casesDir, file), join(workDir, file));
}, 900_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('the chart alerts, under promtool', () => {
  it('has rule test files', () => {
    expect(caseFiles).toContain('alerts.test.yaml');
  });

  it('renders rules that promtool accepts', async () => {
    await writeRules();
    const result = await runPromtool(['check', 'rules', 'rules.yaml']);
    expect(result.output).toContain('SUCCESS: 4 rules found');
    expect(result.code).toBe(0);
  });

  it.each(caseFiles)('%s passes with the default values', async (file) => {
    await writeRules();
    const result = await runPromtool(['test', 'rules', file]);
    expect(result.output).toContain('SUCCESS');
    expect(result.code, result.output).toBe(0);
  });

  // The cases assert exact alerts and absences: rules that differ from what they expect must fail them.
  it.each<[string, Record<string, unknown>, string]>([
    ['a higher failure threshold', { consecutiveFailures: 4 }, 'ApiCredentialRenewalFailing'],
    ['a longer not-ready period', { notReadyFor: '16m' }, 'ApiCredentialNotReady'],
    ['a shorter expiry window', { expiringWithinSeconds: 30 }, 'ApiCredentialTokenExpiringSoon'],
    ['another severity', { severity: 'critical' }, 'severity'],
  ])('fails the cases for %s', async (_name, values, named) => {
    await writeRules(values);
    const result = await runPromtool(['test', 'rules', 'alerts.test.yaml']);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('FAILED');
    expect(result.output).toContain(named);
  });
});
