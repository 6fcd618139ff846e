// The operator process: configuration, clients, caches, workers, health and metrics, signals.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname, totalmem } from 'node:os';
import { ConfigError, loadConfig, type OperatorConfig } from './config.ts';
import { Manager, type ManagerSources } from './controller/manager.ts';
import { cgroupMemoryLimit, decideHeapSizing, HEAP_SIZED_MARKER } from './heap-sizing.ts';
import { HttpClientFactory } from './http/client.ts';
import { EventRecorder } from './kube/events.ts';
import { LeaderElector } from './kube/leader-election.ts';
import { PooledKubeConfig } from './kube/pooled-kubeconfig.ts';
import { HostRateLimiter } from './kube/host-rate-limiter.ts';
import { apiCredentialSource, configMapSource, secretSource, type Scope } from './kube/sources.ts';
import { startHealthServer } from './observability/health.ts';
import { createLogger } from './observability/logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { SecretRedactor } from './observability/redactor.ts';
import { systemClock } from './policy/clock.ts';
import { parseDuration } from './policy/duration.ts';
import { providers } from './providers/index.ts';
import type { ProviderRegistry } from './providers/registry.ts';

function loadKubeConfig(config: OperatorConfig): PooledKubeConfig {
  const kubeConfig = new PooledKubeConfig();
  if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
  else kubeConfig.loadFromCluster();
  return kubeConfig;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
/** How long a stopping operator keeps writing queued Events. */
const EVENT_FLUSH_TIMEOUT_MS = 3_000;

/** Where the Lease lives: the flag, else the pod's own namespace. */
function leaseNamespace(config: OperatorConfig): string {
  if (config.leaseNamespace) return config.leaseNamespace;
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  if (existsSync(SERVICE_ACCOUNT_NAMESPACE)) return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  throw new ConfigError(
    'leader election needs a namespace for its Lease: set --lease-namespace (or APICRED_LEASE_NAMESPACE), or --leader-elect=false for a single replica',
  );
}

function splitAddress(address: string): { host: string; port: number } {
  const index = address.lastIndexOf(':');
  const host = address.slice(0, index).replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(address.slice(index + 1)) };
}

function sources(kubeConfig: PooledKubeConfig, config: OperatorConfig): ManagerSources {
  const scopes: Scope[] =
    config.namespaces.length > 0 ? config.namespaces.map((namespace) => ({ namespace })) : [{}];
  return {
    credentials: scopes.map((scope) =>
      apiCredentialSource(kubeConfig, { ...scope, labelSelector: config.labelSelector }),
    ),
    secrets: scopes.map((scope) => secretSource(kubeConfig, scope)),
    configMaps: scopes.map((scope) => configMapSource(kubeConfig, scope)),
  };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Re-executes this process once with heap flags sized to its memory limit (src/heap-sizing.ts), unless
 * they were given or APICRED_HEAP_SIZING=off. execve keeps the pid: signals and the container's PID 1
 * stay this process. Returns only when it does not re-execute.
 */
function sizeHeap(): void {
  const decision = decideHeapSizing({
    execArgv: process.execArgv,
    env: process.env,
    memoryLimitBytes: cgroupMemoryLimit(readText, totalmem()),
  });
  if (decision.action === 'keep') return;
  const script = process.argv[1];
  if (script === undefined || process.execve === undefined) return; // execve: absent on Windows
  try {
    process.execve(
      process.execPath,
      [process.execPath, ...decision.flags, ...process.execArgv, script, ...process.argv.slice(2)],
      {
        ...process.env,
        [HEAP_SIZED_MARKER]: decision.flags.join(' '),
      },
    );
  } catch (error) {
    // Not fatal: the operator runs with Node's defaults, only with more memory.
    process.stderr.write(
      `apicred-operator: could not re-execute with ${decision.flags.join(' ')} (${error instanceof Error ? error.message : String(error)}); continuing with Node's heap defaults\n`,
    );
  }
}

/** Runs the operator with a registry: the built-in one, or a test's with one more provider (test/integration/extra-provider). */
export async function main(registry: ProviderRegistry = providers): Promise<void> {
  sizeHeap();
  // As PID 1 in a container, a signal with no handler is ignored and kubelet waits out the whole grace
  // period: handle SIGTERM from the start. Until work can start there is nothing to drain, so exit.
  let onSignal = (_signal: string): void => {
    process.exit(0);
  };
  process.on('SIGTERM', () => {
    onSignal('SIGTERM');
  });
  process.on('SIGINT', () => {
    onSignal('SIGINT');
  });
  let config: OperatorConfig;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`apicred-operator: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const redactor = new SecretRedactor();
  const logger = createLogger({ level: config.logLevel, redactor });
  const metrics = createMetrics({ labelGuard: (value) => redactor.scrub(value) === value });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection; exiting');
    process.exit(1);
  });

  const kubeConfig = loadKubeConfig(config);
  const http = new HttpClientFactory({
    timeoutMs: parseDuration(config.providerTimeout),
    addressPolicy: config.allowedCidrs.length > 0 ? { allow: config.allowedCidrs } : undefined,
    onRequest: (provider, method, status, detail) => {
      metrics.providerRequest(provider, method, status);
      logger.debug(
        {
          provider,
          method,
          host: detail.host,
          path: detail.path,
          status,
          reason: detail.reason,
          durationMs: Math.round(detail.durationMs),
        },
        'provider request',
      );
    },
  });
  const providerLimits = hostRateLimiter(config, (host, seconds) => {
    metrics.providerRateLimitWait(host, seconds);
  });
  const events = new EventRecorder({
    kubeConfig,
    clock: systemClock,
    onError: (error) => {
      logger.warn({ err: error }, 'could not record an Event');
    },
    onOutcome: (result) => {
      metrics.events.inc({ result });
    },
  });
  const manager = new Manager({
    kubeConfig,
    sources: sources(kubeConfig, config),
    providers: registry,
    http,
    events,
    metrics,
    redactor,
    logger,
    clock: systemClock,
    acquireProviderSlot: (key, signal) => providerLimits.acquireOrDefer(key, signal),
    options: {
      concurrency: config.concurrency,
      relistIntervalMs: 10 * 60_000,
      maxRequeueMs: 12 * 60 * 60_000,
      propagationMarginMs: parseDuration(config.propagationMargin),
      jitterFraction: 0.1,
      providerTimeoutMs: parseDuration(config.providerTimeout),
      releaseTimeoutMs: 10_000,
      rolloutMinIntervalMs: parseDuration(config.rolloutRestartMinInterval),
    },
  });
  metrics.registerController('apicredential', config.concurrency);

  const elector = config.leaderElect
    ? new LeaderElector({
        kubeConfig,
        namespace: leaseNamespace(config),
        name: config.leaseName,
        identity: `${process.env.POD_NAME ?? hostname()}_${randomBytes(4).toString('hex')}`,
        clock: systemClock,
        onStartedLeading: () => {
          metrics.setLeader(true);
          logger.info({ lease: config.leaseName }, 'became the leader; starting work');
          manager.startWorkers(); // run() starts campaigning only once the caches have synced
        },
        onStoppedLeading: () => {
          metrics.setLeader(false);
          // Another replica may already act: stop at once rather than finish anything (controller-runtime does the same).
          logger.error(
            { lease: config.leaseName },
            'lost the lease; exiting so that two replicas never act together',
          );
          process.exit(1);
        },
        onError: (error) => {
          logger.warn({ err: error }, 'leader election request failed');
        },
      })
    : undefined;

  const healthAddress = splitAddress(config.healthAddress);
  const metricsAddress = splitAddress(config.metricsAddress);
  const checks = {
    healthz: () => [{ name: 'ping', ok: true }],
    readyz: () => [
      {
        name: 'informers-synced',
        ok: manager.synced,
        message: manager.synced ? undefined : 'caches have not listed yet',
      },
      // A standby replica is ready too: it serves probes and takes over when the leader goes.
      {
        name: 'leader-election',
        ok: true,
        message: elector ? (elector.isLeader ? 'leader' : 'standby') : 'disabled',
      },
    ],
  };
  const health = await startHealthServer({ ...healthAddress, checks, flag: '--health-address' });
  const metricsServer =
    config.metricsAddress === config.healthAddress
      ? undefined
      : await startHealthServer({
          ...metricsAddress,
          checks,
          metrics: metrics.registry,
          flag: '--metrics-address',
        });

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining work');
    await manager.stop();
    // Only now, with no work in flight, hand the lease over so the next replica starts at once. The
    // Events still queued are written meanwhile, for a bounded time: they are worth a moment, not a hang.
    await Promise.all([elector?.release(), events.flush(EVENT_FLUSH_TIMEOUT_MS)]);
    await Promise.all([health.close(), metricsServer?.close(), http.close(), kubeConfig.closeConnections()]);
    logger.info('stopped');
    process.exit(0);
  };
  onSignal = (signal) => void shutdown(signal);

  logger.info(
    {
      namespaces: config.namespaces.length > 0 ? config.namespaces : 'all',
      concurrency: config.concurrency,
      health: health.url,
      heap: process.env[HEAP_SIZED_MARKER] ?? 'not sized (flags given, or APICRED_HEAP_SIZING=off)',
    },
    'apicred-operator starting',
  );
  await manager.startCaches();
  if (elector) await elector.run();
  else manager.startWorkers();
}

// Imported by a test entry point that passes its own registry, this module must not start on its own.
if (import.meta.main) await main();

/** One bucket per provider host at --provider-qps/--provider-burst, except the hosts of --provider-host-limits. */
function hostRateLimiter(
  config: OperatorConfig,
  onWait: (metricHost: string, seconds: number) => void,
): HostRateLimiter {
  const defaults = { ratePerSecond: config.providerQps, burst: config.providerBurst };
  const limiter: HostRateLimiter = new HostRateLimiter({
    defaults,
    overrides: new Map(
      config.providerHostLimits.map((limit) => [
        limit.host,
        { ratePerSecond: limit.ratePerSecond, burst: limit.burst ?? defaults.burst },
      ]),
    ),
    // A slow host holds at most a quarter of the workers; its other renewals come back later.
    maxWaitersPerHost: Math.max(1, Math.floor(config.concurrency / 4)),
    clock: systemClock,
    onWait: (key, waitedMs) => {
      onWait(limiter.metricHostOf(key), waitedMs / 1000);
    },
  });
  return limiter;
}
