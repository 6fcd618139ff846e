// One benchmark size: a fresh control plane, the providers, a baseline of N plain Secret writes, then
// N ApiCredentials taken to Ready by the real operator, a restart, and renewal rounds.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type ApiCredentialStatus } from '../../src/api/apicredential.ts';
import { adminKubeConfig, startControlPlane } from '../harness/controlplane.ts';
import { crdFiles } from '../harness/crds.ts';
import { ensureNamespace } from '../harness/identity.ts';
import { TestKube } from '../harness/kube.ts';
import { prepareOperatorNamespace, startOperator, type RunningOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';
import { auditFlags, countAudit, type AuditCounts, type AuditWindow } from './audit.ts';
import { readOperatorMetrics, sampleHeap, sampleQueueDepth } from './operator-metrics.ts';
import { childPid, cpuSecondsOf, memoryOf } from './proc.ts';
import {
  EXPECTED_CALLS,
  providerOf,
  startProviders,
  type BenchProvider,
  type ProviderCounts,
} from './providers.ts';
import { summarizeBurst, type BurstResult } from './burst.ts';
import { summarize, type Summary } from './stats.ts';
import { BenchTracker } from './tracker.ts';

export interface SizeOptions {
  n: number;
  /** Operator workers, and the baseline client's requests in flight. */
  concurrency: number;
  lifetimeSeconds: number;
  rounds: number;
  propagationMarginSeconds: number;
  apiserverArgs: string[];
  /** Extra operator flags. */
  operatorArgs: string[];
  /** One provider's host slowed by --provider-host-limits, to show the others do not wait on it. */
  slowProvider?: { provider: BenchProvider; qps: number; burst: number };
  /** The operator's entry point (dist/main.js, as the image runs it, or src/main.ts). */
  entry: string;
  /** Directory for V8 CPU and heap profiles of the operator, or undefined. */
  profileDir?: string;
  /** Extra NODE_OPTIONS for the operator (e.g. --max-old-space-size=256). */
  nodeOptions?: string;
  /** Directory for heap snapshots of the operator once every credential is Ready, or undefined. */
  heapSnapshotDir?: string;
  /**
   * Credentials to create once the renewal round has its first renewal due, while the N existing ones
   * renew (issue #16 goal 4); 0 for none.
   */
  burst: number;
  /** Skip the two baselines (growth runs that only need time to Ready, memory and CPU). */
  skipBaseline: boolean;
  log: (line: string) => void;
}

function tailOf(file: string, bytes: number): string {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const size = statSync(file).size;
    const read = readSync(fd, buffer, 0, bytes, Math.max(0, size - bytes));
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Asks the process (started with --heapsnapshot-signal=SIGUSR2) for a heap snapshot and waits for it. */
async function takeHeapSnapshot(pid: number, dir: string): Promise<string> {
  const snapshots = (): string[] => readdirSync(dir).filter((name) => name.endsWith('.heapsnapshot'));
  const before = new Set(snapshots());
  process.kill(pid, 'SIGUSR2');
  let lastSize = -1;
  return waitFor(
    `a heap snapshot of ${String(pid)} in ${dir}`,
    () => {
      const name = snapshots().find((candidate) => !before.has(candidate));
      if (name === undefined) return undefined;
      const file = join(dir, name);
      const size = statSync(file).size;
      // V8 writes the snapshot in one go and ends it with the strings table; a stable size that
      // parses at its end means it is complete.
      const done = size > 0 && size === lastSize && tailOf(file, 16).trimEnd().endsWith('}');
      lastSize = size;
      return done ? file : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 2_000 },
  );
}

export interface PerProvider {
  credentials: number;
  calls: number;
  perCredential: number | undefined;
  expected: number;
}

/** When one provider's credentials were all Ready, against what its host's limit predicts. */
export interface ReadyByProvider {
  credentials: number;
  allReadyMs: number;
  limit: { qps: number; burst: number };
  /** (credentials − burst) / qps: the time the host's bucket alone needs, from the first call. */
  predictedMs: number;
}

export interface SizeResult {
  n: number;
  concurrency: number;
  lifetimeSeconds: number;
  baseline: {
    secretsWrittenMs: number;
    /**
     * The minimal writes this job needs per credential, from the same client at the same concurrency:
     * create the Secret, then patch the ApiCredential's status to Ready. The fair floor (#16 goal 1).
     */
    minimalMs: number;
  };
  createCredentialsMs: number;
  creation: {
    operatorReadyzMs: number;
    allReadyMs: number;
    ratioToBaseline: number;
    ratioToMinimal: number;
    /** Per provider (each its own host and bucket): when its last credential was Ready. */
    readyByProvider: Record<BenchProvider, ReadyByProvider>;
    renewalsDuring: number;
    providerCalls: Record<BenchProvider, PerProvider>;
    apiserverRequests: number;
    apiserverPerCredential: number;
    apiserverByKind: Record<string, number>;
    /** Events by outcome when the window closed (2 s after all Ready); later ones still queued. */
    events: Record<string, number>;
  };
  restart: {
    readyzMs: number;
    settledMs: number;
    providerCalls: number;
    renewalsDue: number;
    prematureRenewals: number;
    apiserverRequests: number;
    apiserverByKind: Record<string, number>;
  };
  renewal: {
    durationMs: number;
    rounds: number;
    renewals: number;
    completed: boolean;
    latenessMs: Summary | undefined;
    providerCalls: Record<BenchProvider, PerProvider>;
    apiserverRequests: number;
    apiserverPerRenewal: number;
    apiserverByKind: Record<string, number>;
    cpuSeconds: number;
    cpuSecondsPer1000Renewals: number;
  };
  memory: { peakRssMiB: number; peakHeapUsedMiB: number; apiserverRssMiB?: number; etcdRssMiB?: number };
  /** The creation burst during the renewal round, when --burst asked for one. */
  burst?: BurstResult;
}

const NAMESPACE = 'bench';
const seconds = (ms: number | undefined): string => (ms === undefined ? '-' : (ms / 1000).toFixed(2));
/** Where the minimal baseline's ApiCredentials live: the operator watches only NAMESPACE. */
const MINIMAL_NAMESPACE = 'baseline-minimal';
const SERVICE_ACCOUNT = 'apicred-operator';
const USERNAME = `system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}`;
const JITTER = 0.1; // src/main.ts
const RENEW_BEFORE_PERCENTAGE = 33; // the CRD default

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
async function pool(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

function credentialName(index: number): string {
  return `cred-${String(index).padStart(5, '0')}`;
}

function indexOf(name: string): number {
  return Number(name.slice('cred-'.length));
}

/** The value of `--flag=value` in the operator flags, the last one winning, or the fallback. */
function flagValue(args: string[], flag: string, fallback: number): number {
  const found = args.filter((arg) => arg.startsWith(`${flag}=`)).at(-1);
  return found === undefined ? fallback : Number(found.slice(flag.length + 1));
}

function readyTimesByProvider(
  readyAt: ReadonlyMap<string, number>,
  t0: number,
  n: number,
  options: Pick<SizeOptions, 'operatorArgs' | 'slowProvider'>,
): Record<BenchProvider, ReadyByProvider> {
  const defaults = {
    qps: flagValue(options.operatorArgs, '--provider-qps', 20),
    burst: flagValue(options.operatorArgs, '--provider-burst', 50),
  };
  const counts = countByProvider(n);
  const last: ProviderCounts = { oauth2: t0, tapdata: t0, insightsHub: t0 };
  for (const [name, at] of readyAt) {
    const provider = providerOf(indexOf(name));
    last[provider] = Math.max(last[provider], at);
  }
  const result = {} as Record<BenchProvider, ReadyByProvider>;
  for (const provider of Object.keys(counts) as BenchProvider[]) {
    const slow = options.slowProvider?.provider === provider ? options.slowProvider : undefined;
    const limit = slow ? { qps: slow.qps, burst: slow.burst } : defaults;
    result[provider] = {
      credentials: counts[provider],
      allReadyMs: last[provider] - t0,
      limit,
      predictedMs: (Math.max(0, counts[provider] - limit.burst) / limit.qps) * 1000,
    };
  }
  return result;
}

function countByProvider(n: number): ProviderCounts {
  const counts: ProviderCounts = { oauth2: 0, tapdata: 0, insightsHub: 0 };
  for (let i = 0; i < n; i += 1) counts[providerOf(i)] += 1;
  return counts;
}

function perProvider(calls: ProviderCounts, units: ProviderCounts): Record<BenchProvider, PerProvider> {
  const result = {} as Record<BenchProvider, PerProvider>;
  for (const provider of Object.keys(calls) as BenchProvider[]) {
    result[provider] = {
      credentials: units[provider],
      calls: calls[provider],
      perCredential: units[provider] > 0 ? calls[provider] / units[provider] : undefined,
      expected: EXPECTED_CALLS[provider],
    };
  }
  return result;
}

function delta(after: ProviderCounts, before: ProviderCounts): ProviderCounts {
  return {
    oauth2: after.oauth2 - before.oauth2,
    tapdata: after.tapdata - before.tapdata,
    insightsHub: after.insightsHub - before.insightsHub,
  };
}

function total(counts: ProviderCounts): number {
  return counts.oauth2 + counts.tapdata + counts.insightsHub;
}

/** A consumer-Secret-sized object: what the operator writes, minus what only it knows. */
/** The status the operator writes when a credential is Ready, in shape and size. */
function readyStatus(): ApiCredentialStatus {
  const now = new Date().toISOString();
  return {
    observedGeneration: 1,
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        observedGeneration: 1,
        lastTransitionTime: now,
        reason: 'Issued',
        message: 'token issued',
      },
    ],
    provider: 'oauth2',
    issuedAt: now,
    expiresAt: now,
    lastRefreshTime: now,
    nextRefreshTime: now,
    inputsHash: randomBytes(16).toString('hex'),
  };
}

/**
 * The minimal baseline: N ApiCredentials (created first, untimed) in their own namespace, then per
 * credential the Secret created and the status patched, timed, with `concurrency` credentials in flight.
 */
async function minimalBaseline(
  admin: KubeConfig,
  kube: TestKube,
  n: number,
  concurrency: number,
  spec: (index: number) => unknown,
): Promise<number> {
  const core = admin.makeApiClient(CoreV1Api);
  const objects = admin.makeApiClient(CustomObjectsApi);
  await ensureNamespace(core, MINIMAL_NAMESPACE);
  await pool(n, concurrency, async (index) => {
    await kube.createCredential(MINIMAL_NAMESPACE, credentialName(index), spec(index));
  });
  const start = Date.now();
  await pool(n, concurrency, async (index) => {
    const name = credentialName(index);
    await core.createNamespacedSecret({ namespace: MINIMAL_NAMESPACE, body: baselineSecret(index) });
    await objects.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: MINIMAL_NAMESPACE,
        name,
        body: { status: readyStatus() },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  });
  return Date.now() - start;
}

function baselineSecret(index: number): {
  metadata: object;
  type: string;
  stringData: Record<string, string>;
} {
  const now = new Date().toISOString();
  return {
    metadata: {
      name: credentialName(index),
      labels: { 'app.kubernetes.io/managed-by': 'bench', 'apicred.dev/role': 'token' },
      annotations: { 'apicred.dev/issued-at': now, 'apicred.dev/expires-at': now },
    },
    type: 'Opaque',
    stringData: {
      token: randomBytes(600).toString('base64url'),
      token_type: 'Bearer',
      expires_at: now,
    },
  };
}

export async function runSize(options: SizeOptions): Promise<SizeResult> {
  const { n, concurrency, log } = options;
  const work = mkdtempSync(join(tmpdir(), 'apicred-bench-'));
  const auditLog = join(work, 'audit.log');
  const plane = await startControlPlane({
    crdFiles: crdFiles(),
    apiserverArgs: [
      ...auditFlags(join(work, 'audit-policy.json'), auditLog, USERNAME),
      ...options.apiserverArgs,
    ],
  });
  const providers = await startProviders(options.lifetimeSeconds);
  const operators: RunningOperator[] = [];
  let tracker: BenchTracker | undefined;
  const heap = { peak: 0 };
  let planeStopped = false;
  try {
    log(`[n=${n}] control plane up in ${(plane.startedInMs / 1000).toFixed(1)} s`);
    const admin = adminKubeConfig(plane);
    const kube = new TestKube(admin);
    const core = admin.makeApiClient(CoreV1Api);

    // NaN when skipped: the table shows "-" and no ratio goal is judged.
    let secretsWrittenMs = Number.NaN;
    let minimalMs = Number.NaN;
    if (!options.skipBaseline) {
      await ensureNamespace(core, 'baseline');
      const baselineStart = Date.now();
      await pool(n, concurrency, async (index) => {
        await core.createNamespacedSecret({ namespace: 'baseline', body: baselineSecret(index) });
      });
      secretsWrittenMs = Date.now() - baselineStart;
      log(`[n=${n}] baseline: ${n} Secrets written in ${(secretsWrittenMs / 1000).toFixed(1)} s`);
      minimalMs = await minimalBaseline(admin, kube, n, concurrency, (index) => providers.spec(index));
      log(
        `[n=${n}] minimal baseline: ${n} Secrets created and ApiCredential statuses patched in ${(minimalMs / 1000).toFixed(1)} s`,
      );
    }

    const { kubeconfig, logDir } = await prepareOperatorNamespace(plane, NAMESPACE, SERVICE_ACCOUNT);
    for (const [name, data] of Object.entries(providers.inputSecrets))
      await kube.putSecret(NAMESPACE, name, data);
    const createStart = Date.now();
    await pool(n, concurrency, async (index) => {
      await kube.createCredential(NAMESPACE, credentialName(index), providers.spec(index));
    });
    const createCredentialsMs = Date.now() - createStart;
    log(`[n=${n}] ${n} ApiCredentials created in ${(createCredentialsMs / 1000).toFixed(1)} s`);

    tracker = new BenchTracker({
      kubeConfig: admin,
      namespace: NAMESPACE,
      propagationMarginMs: options.propagationMarginSeconds * 1000,
      jitterFraction: JITTER,
      renewBeforePercentage: RENEW_BEFORE_PERCENTAGE,
    });
    await tracker.start();
    const activeTracker = tracker;

    const start = async (
      name: string,
    ): Promise<{ operator: RunningOperator; pid: number; stopHeap: () => void }> => {
      const nodeOptions = [
        options.nodeOptions ?? '',
        options.profileDir
          ? `--cpu-prof --cpu-prof-dir=${options.profileDir} --heap-prof --heap-prof-dir=${options.profileDir}`
          : '',
        options.heapSnapshotDir
          ? `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${options.heapSnapshotDir}`
          : '',
      ]
        .filter((option) => option !== '')
        .join(' ');
      const profileEnv = nodeOptions === '' ? {} : { NODE_OPTIONS: nodeOptions };
      const operator = await startOperator({
        kubeconfig,
        logDir,
        name,
        entry: options.entry,
        namespaces: [NAMESPACE],
        env: profileEnv,
        extraArgs: [
          '--leader-elect=false',
          '--log-level=info',
          `--concurrency=${String(concurrency)}`,
          `--propagation-margin=${String(options.propagationMarginSeconds)}s`,
          ...options.operatorArgs,
          ...(options.slowProvider
            ? [
                `--provider-host-limits=${providers.hosts[options.slowProvider.provider]}=${String(options.slowProvider.qps)}:${String(options.slowProvider.burst)}`,
              ]
            : []),
        ],
      });
      operators.push(operator);
      const pid = childPid(operator.logFile);
      if (pid === undefined) throw new Error(`no pid for ${name} (${operator.logFile}.pid)`);
      const sampler = sampleHeap(operator.metricsUrl, 5_000);
      return {
        operator,
        pid,
        stopHeap: () => {
          sampler.stop();
          heap.peak = Math.max(heap.peak, sampler.peak());
        },
      };
    };
    /**
     * Stops one operator and returns its peak RSS. With --heap-snapshot it is snapshotted first, and the
     * peak is the one from before: writing a snapshot costs memory of its own.
     */
    const stopOperator = async (
      running: { operator: RunningOperator; pid: number; stopHeap: () => void },
      which: string,
    ) => {
      let peakBeforeSnapshot: number | undefined;
      if (options.heapSnapshotDir) {
        peakBeforeSnapshot = memoryOf(running.pid)?.peakRssMiB;
        const file = await takeHeapSnapshot(running.pid, options.heapSnapshotDir);
        log(`[n=${n}] heap snapshot of the ${which} operator: ${file}`);
      }
      const memory = memoryOf(running.pid);
      running.stopHeap();
      await running.operator.stop();
      return peakBeforeSnapshot ?? memory?.peakRssMiB ?? 0;
    };

    // 1. From nothing to N Ready credentials.
    const beforeCreation = providers.counts();
    const t0 = Date.now();
    const first = await start('operator-1');
    const operatorReadyzMs = Date.now() - t0;
    const rss = (pid: number): string => {
      const memory = memoryOf(pid);
      return memory ? `RSS ${memory.rssMiB.toFixed(0)} MiB (peak ${memory.peakRssMiB.toFixed(0)})` : 'RSS ?';
    };
    log(`[n=${n}] operator ready after ${(operatorReadyzMs / 1000).toFixed(1)} s; ${rss(first.pid)}`);
    await waitFor(
      `${n} ApiCredentials to be Ready`,
      () => (activeTracker.readyAt.size >= n ? true : undefined),
      {
        timeoutMs: 120_000 + n * 200,
        intervalMs: 200,
        abortIf: () => (first.operator.process.exited ? first.operator.process.logTail(40) : undefined),
      },
    );
    const allReadyAt = Math.max(...activeTracker.readyAt.values());
    const creationCalls = delta(providers.counts(), beforeCreation);
    const renewalsDuringCreation = activeTracker.renewals.filter((r) => r.at < allReadyAt).length;
    const allReadyMs = allReadyAt - t0;
    const readyByProvider = readyTimesByProvider(activeTracker.readyAt, t0, n, options);
    for (const [provider, ready] of Object.entries(readyByProvider)) {
      log(
        `[n=${n}] ${provider}: ${String(ready.credentials)} Ready ${(ready.allReadyMs / 1000).toFixed(1)} s after the operator started; ` +
          `its host's limit (${String(ready.limit.qps)}/s, burst ${String(ready.limit.burst)}) alone needs (N − burst) / qps = ${(ready.predictedMs / 1000).toFixed(1)} s`,
      );
    }
    log(
      `[n=${n}] all Ready ${(allReadyMs / 1000).toFixed(1)} s after the operator started ` +
        (Number.isNaN(secretsWrittenMs)
          ? '(baselines skipped)'
          : `(${(allReadyMs / secretsWrittenMs).toFixed(2)}x the baseline, ${(allReadyMs / minimalMs).toFixed(2)}x the minimal one)`) +
        `; ${total(creationCalls)} provider calls; ${rss(first.pid)}`,
    );
    // Let the last status writes and Events land before the window closes.
    await sleep(2_000);
    const creationEnd = Date.now();
    const creationEvents = (await readOperatorMetrics(first.operator.metricsUrl))?.events ?? {};

    // 2. A graceful restart: how soon it is ready, and whether it calls any provider it need not.
    const peakRss1 = await stopOperator(first, 'first');
    const beforeRestart = providers.counts();
    const restartStart = Date.now();
    const second = await start('operator-2');
    const readyzMs = Date.now() - restartStart;
    await waitFor(
      'the restarted operator to reconcile every ApiCredential once',
      async () =>
        ((await readOperatorMetrics(second.operator.metricsUrl))?.reconciles ?? 0) >= n ? true : undefined,
      { timeoutMs: 120_000 + n * 100, intervalMs: 1_000 },
    );
    const settledAt = Date.now();
    const restartCalls = total(delta(providers.counts(), beforeRestart));
    const restartRenewals = activeTracker.renewals.filter((r) => r.at >= restartStart && r.at <= settledAt);
    const prematureRenewals = restartRenewals.filter((r) => r.latenessMs < 0).length;
    log(
      `[n=${n}] restart: ready in ${(readyzMs / 1000).toFixed(1)} s, every credential looked at in ` +
        `${((settledAt - restartStart) / 1000).toFixed(1)} s, ${restartCalls} provider calls ` +
        `(${restartRenewals.length} due renewals, ${prematureRenewals} premature); ${rss(second.pid)}`,
    );

    /**
     * Waits for the round's first renewal to be due, then creates the burst with `concurrency` creates
     * in flight, and waits for every new credential to be Ready.
     */
    const runBurst = async (operator: RunningOperator): Promise<BurstResult> => {
      const firstDueAt = activeTracker.nextPlannedRenewal() ?? Date.now();
      if (firstDueAt > Date.now()) {
        log(
          `[n=${n}] burst: waiting ${((firstDueAt - Date.now()) / 1000).toFixed(1)} s for the first renewal to be due`,
        );
        await sleep(firstDueAt - Date.now());
      }
      const before = await readOperatorMetrics(operator.metricsUrl);
      const depth = sampleQueueDepth(operator.metricsUrl, 1_000);
      const createdAt = new Map<string, number>();
      await pool(options.burst, concurrency, async (offset) => {
        const name = credentialName(n + offset);
        createdAt.set(name, Date.now());
        await kube.createCredential(NAMESPACE, name, providers.spec(n + offset));
      });
      await waitFor(
        `${String(options.burst)} new ApiCredentials to be Ready`,
        () => ([...createdAt.keys()].every((name) => activeTracker.readyAt.has(name)) ? true : undefined),
        {
          timeoutMs: 120_000 + options.burst * 200,
          intervalMs: 200,
          abortIf: () => (operator.process.exited ? operator.process.logTail(40) : undefined),
        },
      );
      depth.stop();
      const after = await readOperatorMetrics(operator.metricsUrl);
      // Renewals due before the last Ready may finish after it: wait until every token due by then
      // has been renewed, or a late one would be missed and the lateness look better than it was.
      const lastReady = Math.max(
        ...[...createdAt.keys()].map((name) => activeTracker.readyAt.get(name) ?? 0),
      );
      try {
        await waitFor(
          'the renewals due during the burst',
          () => ((activeTracker.nextPlannedRenewal() ?? Infinity) > lastReady ? true : undefined),
          { timeoutMs: 300_000, intervalMs: 500 },
        );
      } catch (error) {
        log(
          `[n=${n}] burst: ${error instanceof Error ? error.message : String(error)}; judging what was renewed`,
        );
      }
      return {
        ...summarizeBurst({
          createdAt,
          readyAt: activeTracker.readyAt,
          renewals: activeTracker.renewals,
          firstDueAt,
        }),
        diagnosis: {
          peakQueueDepth: depth.peak(),
          rateLimitWaits: (after?.rateLimitWaits ?? 0) - (before?.rateLimitWaits ?? 0),
          rateLimitWaitSeconds: (after?.rateLimitWaitSeconds ?? 0) - (before?.rateLimitWaitSeconds ?? 0),
        },
      };
    };

    // 3. Renewal rounds.
    const roundsStart = Date.now();
    const beforeRounds = providers.counts();
    const cpuBefore = cpuSecondsOf(second.pid) ?? 0;
    const roundsTimeoutMs = (options.rounds + 1) * options.lifetimeSeconds * 1000 + 120_000;
    let completed = options.rounds > 0;
    let lastReport = Date.now();
    let burst: BurstResult | undefined;
    if (options.burst > 0) {
      burst = await runBurst(second.operator);
      log(
        `[n=${n}] burst: ${String(burst.credentials)} created (first ${(burst.startedAfterFirstDueMs / 1000).toFixed(1)} s after the round's first renewal was due) ` +
          `and all Ready in ${(burst.allReadyMs / 1000).toFixed(1)} s; create to Ready p50 ${seconds(burst.createToReadyMs?.p50)} ` +
          `p99 ${seconds(burst.createToReadyMs?.p99)} max ${seconds(burst.createToReadyMs?.max)} s; ` +
          `${String(burst.renewalsDuring)} renewals due meanwhile, late p50 ${seconds(burst.latenessDuringMs?.p50)} ` +
          `p99 ${seconds(burst.latenessDuringMs?.p99)} max ${seconds(burst.latenessDuringMs?.max)} s (goal p99 < 2 s: ${burst.latenessGoalMet ? 'met' : 'MISSED'}); ` +
          `work queue up to ${String(burst.diagnosis?.peakQueueDepth)} deep, ${String(burst.diagnosis?.rateLimitWaits)} provider calls waited ` +
          `${(burst.diagnosis?.rateLimitWaitSeconds ?? 0).toFixed(1)} s in all for their host's bucket; ${rss(second.pid)}`,
      );
    }
    if (options.rounds > 0)
      try {
        await waitFor(
          `${options.rounds} renewal rounds`,
          () => {
            const perCredential = activeTracker.renewalsSince(roundsStart);
            let done = 0;
            for (const [name, count] of perCredential)
              if (indexOf(name) < n && count >= options.rounds) done += 1;
            if (Date.now() - lastReport > 30_000) {
              lastReport = Date.now();
              log(`[n=${n}]   ${done}/${n} credentials renewed ${options.rounds} times; ${rss(second.pid)}`);
            }
            return done >= n ? true : undefined;
          },
          {
            timeoutMs: roundsTimeoutMs,
            intervalMs: 500,
            abortIf: () => (second.operator.process.exited ? second.operator.process.logTail(40) : undefined),
          },
        );
      } catch (error) {
        completed = false;
        log(`[n=${n}] renewal rounds incomplete: ${error instanceof Error ? error.message : String(error)}`);
      }
    const roundsEnd = Date.now();
    const cpuSeconds = (cpuSecondsOf(second.pid) ?? 0) - cpuBefore;
    const roundCalls = delta(providers.counts(), beforeRounds);
    const roundRenewals = activeTracker.renewals.filter((r) => r.at >= roundsStart && r.at < roundsEnd);
    const renewalsByProvider: ProviderCounts = { oauth2: 0, tapdata: 0, insightsHub: 0 };
    for (const renewal of roundRenewals) renewalsByProvider[providerOf(indexOf(renewal.credential))] += 1;
    // The burst's first tokens are issued in the round's window too: count them as tokens issued.
    for (let index = n; index < n + options.burst; index += 1) renewalsByProvider[providerOf(index)] += 1;
    const peakRss2 = await stopOperator(second, 'restarted');
    const memoryOfPlane = plane.memoryMiB();

    await tracker.stop();
    tracker = undefined;
    await plane.stop(); // flushes the audit log
    planeStopped = true;
    const windows: AuditWindow[] = [
      { name: 'creation', from: t0, to: creationEnd },
      { name: 'restart', from: restartStart, to: settledAt },
      { name: 'renewal', from: roundsStart, to: roundsEnd },
    ];
    const audit: AuditCounts = await countAudit(auditLog, USERNAME, windows);
    const renewals = roundRenewals.length;
    const tokensIssued = renewals + options.burst;
    const creationAudit = audit.creation ?? { total: 0, byKind: {} };
    const renewalAudit = audit.renewal ?? { total: 0, byKind: {} };
    return {
      n,
      concurrency,
      lifetimeSeconds: options.lifetimeSeconds,
      baseline: { secretsWrittenMs, minimalMs },
      createCredentialsMs,
      creation: {
        operatorReadyzMs,
        allReadyMs,
        ratioToBaseline: allReadyMs / secretsWrittenMs,
        ratioToMinimal: allReadyMs / minimalMs,
        readyByProvider,
        renewalsDuring: renewalsDuringCreation,
        providerCalls: perProvider(creationCalls, countByProvider(n)),
        apiserverRequests: creationAudit.total,
        apiserverPerCredential: creationAudit.total / n,
        apiserverByKind: creationAudit.byKind,
        events: creationEvents,
      },
      restart: {
        readyzMs,
        settledMs: settledAt - restartStart,
        providerCalls: restartCalls,
        renewalsDue: restartRenewals.length - prematureRenewals,
        prematureRenewals,
        apiserverRequests: audit.restart?.total ?? 0,
        apiserverByKind: audit.restart?.byKind ?? {},
      },
      renewal: {
        durationMs: roundsEnd - roundsStart,
        rounds: options.rounds,
        renewals,
        completed,
        latenessMs: summarize(roundRenewals.map((r) => r.latenessMs)),
        providerCalls: perProvider(roundCalls, renewalsByProvider),
        apiserverRequests: renewalAudit.total,
        apiserverPerRenewal: tokensIssued > 0 ? renewalAudit.total / tokensIssued : 0,
        apiserverByKind: renewalAudit.byKind,
        cpuSeconds,
        cpuSecondsPer1000Renewals: renewals > 0 ? (cpuSeconds / renewals) * 1000 : 0,
      },
      memory: {
        peakRssMiB: Math.max(peakRss1, peakRss2),
        peakHeapUsedMiB: heap.peak / 1024 / 1024,
        apiserverRssMiB: memoryOfPlane['kube-apiserver'],
        etcdRssMiB: memoryOfPlane.etcd,
      },
      ...(burst ? { burst } : {}),
    };
  } finally {
    await tracker?.stop();
    for (const operator of operators) await operator.stop();
    await providers.stop();
    if (!planeStopped) await plane.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
