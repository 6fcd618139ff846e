// Runs the Helm binary built by test/helm/build.ts against deploy/apicred-operator, with Helm's own
// config, cache and data directories kept out of the user's home.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../harness/crds.ts';
import { ensureHelmBuilt, helmBinDir, helmBinary } from './build.ts';

export const chartDir = join(repoRoot, 'deploy', 'apicred-operator');

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

// Helm's config, cache and data: small, so they stay with the binary instead of leaking temp dirs.
const helmHome = join(helmBinDir, '..', 'home');

function helmEnv(): NodeJS.ProcessEnv {
  const dirs = { HELM_CACHE_HOME: 'cache', HELM_CONFIG_HOME: 'config', HELM_DATA_HOME: 'data' };
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: helmHome };
  for (const [variable, dir] of Object.entries(dirs)) {
    env[variable] = join(helmHome, dir);
    mkdirSync(join(helmHome, dir), { recursive: true });
  }
  return env;
}

export interface HelmOptions {
  kubeconfig?: string;
  /** Passed as a values file (JSON is YAML), removed afterwards. */
  values?: Record<string, unknown>;
}

/** Runs `helm args...`; never throws on a non-zero exit, so tests can assert on failures. */
export async function helm(args: string[], options: HelmOptions = {}): Promise<HelmResult> {
  const binary = await ensureHelmBuilt();
  const scratch = mkdtempSync(join(tmpdir(), 'apicred-helm-values-'));
  const valuesFile = join(scratch, 'values.yaml');
  if (options.values) writeFileSync(valuesFile, JSON.stringify(options.values));
  const fullArgs = [
    ...args,
    ...(options.values ? [`--values=${valuesFile}`] : []),
    ...(options.kubeconfig ? [`--kubeconfig=${options.kubeconfig}`] : []),
  ];
  try {
    return await new Promise((resolve, reject) => {
      execFile(
        binary,
        fullArgs,
        { env: helmEnv(), maxBuffer: 32 * 1024 * 1024, timeout: 120_000 },
        (error, stdout, stderr) => {
          if (error && typeof error.code !== 'number') {
            reject(new Error(`could not run ${binary}: ${error.message}`, { cause: error }));
            return;
          }
          resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
        },
      );
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export function parseManifests(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null);
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  values?: Record<string, unknown>;
  includeCrds?: boolean;
}

/** `helm template`; throws with Helm's message when rendering fails. */
export async function renderChart(options: RenderOptions = {}): Promise<KubeObject[]> {
  const result = await helmTemplate(options);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function helmTemplate(options: RenderOptions = {}): Promise<HelmResult> {
  return helm(
    [
      'template',
      options.release ?? 'apicred-operator',
      chartDir,
      `--namespace=${options.namespace ?? 'apicred-system'}`,
      ...(options.includeCrds ? ['--include-crds'] : []),
    ],
    { values: options.values },
  );
}

/**
 * The chart's rules for the watched namespaces, rendered synchronously for the harness's module-level
 * grants. The integration tier's global setup builds Helm first.
 */
export function chartOperatorRules(): unknown[] {
  if (!existsSync(helmBinary)) {
    throw new Error(`${helmBinary} is missing: run \`npm run helm:build\` (npm test builds it too)`);
  }
  const manifest = execFileSync(
    helmBinary,
    ['template', 'apicred-operator', chartDir, '--show-only=templates/rbac.yaml'],
    { env: helmEnv(), encoding: 'utf8' },
  );
  const role = parseManifests(manifest).find((object) => object.kind === 'ClusterRole');
  const rules = (role as { rules?: unknown[] } | undefined)?.rules;
  if (!rules) throw new Error('the chart rendered no ClusterRole rules');
  return rules;
}
