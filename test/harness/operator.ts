// Runs the operator as a real child process (node src/main.ts), as a Deployment would run it: its own
// kubeconfig, flags, a health port to wait on, and JSON logs captured for assertions and leak scans.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1PolicyRule } from '@kubernetes/client-node';
import { chartOperatorRules } from '../helm/chart.ts';
import type { ControlPlaneInfo } from './controlplane.ts';
import { createIdentity } from './identity.ts';
import { ManagedProcess } from './process.ts';
import { freePort } from './ports.ts';
import { repoRoot } from './crds.ts';
import { waitFor } from './wait.ts';

export interface OperatorOptions {
  kubeconfig: string;
  /** Directory for the log file. */
  logDir: string;
  namespaces?: string[];
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  name?: string;
  /** The operator's entry point; default src/main.ts (type-stripped). dist/main.js is what the image runs. */
  entry?: string;
}

export interface RunningOperator {
  readonly healthUrl: string;
  readonly metricsUrl: string;
  readonly logFile: string;
  readonly process: ManagedProcess;
  logs(): string;
  /** Graceful stop (SIGTERM through the guard). */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
}

let instances = 0;

export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const [healthPort, metricsPort] = await Promise.all([freePort(), freePort()]);
  instances += 1;
  const name = options.name ?? `operator-${instances}`;
  const logFile = join(options.logDir, `${name}.log`);
  const args = [
    options.entry ?? join(repoRoot, 'src', 'main.ts'),
    `--kubeconfig=${options.kubeconfig}`,
    `--health-address=127.0.0.1:${healthPort}`,
    `--metrics-address=127.0.0.1:${metricsPort}`,
    '--log-level=debug',
    ...(options.namespaces ? [`--namespaces=${options.namespaces.join(',')}`] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = new ManagedProcess({
    name,
    command: process.execPath,
    args,
    logFile,
    env: { ...process.env, ...options.env },
    graceSeconds: 15,
  });
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  const operator: RunningOperator = {
    healthUrl,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    logFile,
    process: child,
    logs: () => readFileSync(logFile, 'utf8'),
    stop: () => child.stop(),
    kill: () => child.kill(),
  };
  try {
    await waitFor(
      `${name} to report ready`,
      async () => ((await fetch(`${healthUrl}/readyz`)).ok ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 100,
        abortIf: () =>
          child.exited ? `exited with ${String(child.exitCode)}:\n${child.logTail(40)}` : undefined,
      },
    );
  } catch (error) {
    await child.stop();
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}\nLast lines of ${logFile}:\n${child.logTail(40)}`,
      { cause: error },
    );
  }
  return operator;
}

/**
 * The rules the operator runs with in every integration test: exactly the Helm chart's, plus the
 * Lease verbs the chart grants for its one Lease (tests choose their own Lease names).
 */
export const operatorRules = [
  ...(chartOperatorRules() as V1PolicyRule[]),
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

/** A namespace with the operator's least-privilege identity and a log directory for its processes. */
export async function prepareOperatorNamespace(
  plane: ControlPlaneInfo,
  namespace: string,
  serviceAccount = 'apicred-operator',
): Promise<{ kubeconfig: string; logDir: string }> {
  const identity = await createIdentity(plane, { namespace, serviceAccount, rules: operatorRules });
  const logDir = join(plane.dir, namespace);
  mkdirSync(logDir, { recursive: true });
  return { kubeconfig: identity.kubeconfigPath, logDir };
}
