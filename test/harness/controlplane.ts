// Starts a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) from the
// binaries that test/controlplane/build.ts builds, as child processes on free loopback ports.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { Agent, fetch } from 'undici';
import { binaryPath, controlPlaneBinaries } from '../controlplane/paths.ts';
import { ManagedProcess, processAlive } from './process.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

const execFileAsync = promisify(execFile);
const DIR_PREFIX = 'apicred-cp-';

export interface ControlPlaneOptions {
  /** CRD manifests (YAML or JSON files) applied before kube-controller-manager starts, so its GC knows them. */
  crdFiles?: string[];
  /** Start kube-controller-manager (garbage collector, namespace, serviceaccount, deployment and clusterrole-aggregation controllers). Default true. */
  controllerManager?: boolean;
  /** Keep the working directory (logs, etcd data) after stop(). */
  keepDir?: boolean;
  /**
   * Admit a real node (test/node/node.ts): client certificates signed by this CA authenticate, the Node
   * authorizer and NodeRestriction admit kubelets, replicaset-controller gives Deployments pods and node-lifecycle-controller lifts the kubelet's not-ready taint.
   * Pods get ServiceAccount token volumes (ServiceAccount admission, kube-root-ca.crt ConfigMaps).
   * Off by default: without a node those only add noise.
   */
  nodeClientCaFile?: string;
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
  readyTimeoutMs?: number;
}

/** What a test needs to reach a running control plane; serializable, so vitest can hand it to workers. */
export interface ControlPlaneInfo {
  readonly server: string;
  readonly caFile: string;
  readonly adminToken: string;
  readonly adminKubeconfig: string;
  /** Working directory; tests may write kubeconfigs and logs here. */
  readonly dir: string;
  readonly etcdUrl: string;
}

export interface ControlPlane extends ControlPlaneInfo {
  readonly caPem: string;
  readonly startedInMs: number;
  /** SIGKILLs kube-apiserver and starts it again on the same port with the same etcd data. */
  restartApiserver(): Promise<void>;
  /** Resident memory of each component in MiB, read from /proc. */
  memoryMiB(): Record<string, number>;
  stop(): Promise<void>;
}

interface Component {
  process: ManagedProcess;
  role: string;
}

const running = new Set<ControlPlaneImpl>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for an interrupted run: the process guards kill the children, this removes the dirs.
  process.once('exit', () => {
    for (const plane of running) plane.removeDirSync();
  });
}

/** Removes working directories left by runs that were SIGKILLed (their owner process is gone). */
function sweepStaleDirs(): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    const ownerFile = join(dir, 'owner.pid');
    const owner = existsSync(ownerFile) ? Number(readFileSync(ownerFile, 'utf8')) : NaN;
    if (Number.isInteger(owner) && processAlive(owner)) continue;
    rmSync(dir, { recursive: true, force: true });
  }
}

function missingBinaries(): string[] {
  return controlPlaneBinaries.filter((name) => !existsSync(binaryPath(name)));
}

class ControlPlaneImpl implements ControlPlane {
  readonly dir: string;
  readonly caFile: string;
  readonly adminToken = randomBytes(24).toString('hex');
  readonly adminKubeconfig: string;
  server = '';
  etcdUrl = '';
  caPem = '';
  startedInMs = 0;
  readonly #kcmToken = randomBytes(24).toString('hex');
  readonly #options: ControlPlaneOptions;
  readonly #components: Component[] = [];
  #apiserverArgs: string[] = [];
  #agent: Agent | undefined;

  constructor(options: ControlPlaneOptions) {
    this.#options = options;
    this.dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
    writeFileSync(join(this.dir, 'owner.pid'), String(process.pid));
    for (const sub of ['etcd', 'pki', 'kcm', 'logs']) mkdirSync(join(this.dir, sub));
    this.caFile = join(this.dir, 'pki', 'apiserver.crt');
    this.adminKubeconfig = join(this.dir, 'admin.kubeconfig');
  }

  async start(): Promise<void> {
    const started = Date.now();
    const timeoutMs = this.#options.readyTimeoutMs ?? 90_000;
    const [etcdClient, etcdPeer, apiPort, kcmPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    this.etcdUrl = `http://127.0.0.1:${String(etcdClient)}`;
    this.server = `https://127.0.0.1:${String(apiPort)}`;

    const etcd = this.#spawn('etcd', binaryPath('etcd'), [
      '--name=apicred',
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=${this.etcdUrl}`,
      `--advertise-client-urls=${this.etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${String(etcdPeer)}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${String(etcdPeer)}`,
      `--initial-cluster=apicred=http://127.0.0.1:${String(etcdPeer)}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await this.#waitHealthy(etcd, `${this.etcdUrl}/health`, timeoutMs, undefined);

    this.#writeIdentities();
    this.#apiserverArgs = [
      `--etcd-servers=${this.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${String(apiPort)}`,
      `--cert-dir=${join(this.dir, 'pki')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-signing-key-file=${join(this.dir, 'pki', 'sa.key')}`,
      `--service-account-key-file=${join(this.dir, 'pki', 'sa.pub')}`,
      `--token-auth-file=${join(this.dir, 'tokens.csv')}`,
      ...(this.#options.nodeClientCaFile === undefined
        ? ['--authorization-mode=RBAC']
        : [`--client-ca-file=${this.#options.nodeClientCaFile}`, '--authorization-mode=Node,RBAC']),
      '--endpoint-reconciler-type=none',
      // Without a node no kubelet runs pods and the ServiceAccount admission plugin would only add
      // noise; with one, it gives pods their token volume, which in-cluster clients need.
      ...(this.#options.nodeClientCaFile === undefined ? ['--disable-admission-plugins=ServiceAccount'] : []),
      // As on most clusters: setting blockOwnerDeletion needs update on the owner's finalizers, so a
      // chart without that permission fails here as it would in production.
      `--enable-admission-plugins=OwnerReferencesPermissionEnforcement${this.#options.nodeClientCaFile === undefined ? '' : ',NodeRestriction'}`,
      '--v=1',
      ...(this.#options.apiserverArgs ?? []),
    ];
    await this.#startApiserver(timeoutMs);
    this.#writeKubeconfig(this.adminKubeconfig, 'admin', this.adminToken);

    for (const file of this.#options.crdFiles ?? [])
      await this.kubectl(['apply', '--server-side', '-f', file]);
    if ((this.#options.controllerManager ?? true) && (this.#options.crdFiles?.length ?? 0) > 0) {
      await this.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    }

    if (this.#options.controllerManager ?? true) {
      const kcmKubeconfig = join(this.dir, 'kcm.kubeconfig');
      this.#writeKubeconfig(kcmKubeconfig, 'kcm', this.#kcmToken);
      const kcm = this.#spawn('kube-controller-manager', binaryPath('kube-controller-manager'), [
        `--kubeconfig=${kcmKubeconfig}`,
        // deployment-controller: a pod template change makes a new ReplicaSet, the visible effect of a
        // rollout restart. No replicaset-controller, so no pods, unless a node runs them.
        // clusterrole-aggregation-controller: the chart's aggregate-to-view/edit rules reach view and edit.
        `--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,deployment-controller,clusterrole-aggregation-controller${this.#options.nodeClientCaFile === undefined ? '' : ',replicaset-controller,node-lifecycle-controller,root-ca-certificate-publisher-controller'}`,
        // The kube-root-ca.crt ConfigMap of every namespace: a pod's token volume carries it as ca.crt.
        ...(this.#options.nodeClientCaFile === undefined ? [] : [`--root-ca-file=${this.caFile}`]),
        '--leader-elect=false',
        '--use-service-account-credentials=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${String(kcmPort)}`,
        `--cert-dir=${join(this.dir, 'kcm')}`,
        '--authentication-skip-lookup=true',
        '--v=1',
      ]);
      const insecure = new Agent({ connect: { rejectUnauthorized: false } });
      try {
        await this.#waitHealthy(kcm, `https://127.0.0.1:${String(kcmPort)}/healthz`, timeoutMs, insecure);
      } finally {
        await insecure.close();
      }
    }
    this.startedInMs = Date.now() - started;
  }

  async #startApiserver(timeoutMs: number): Promise<void> {
    const apiserver = this.#spawn('kube-apiserver', binaryPath('kube-apiserver'), this.#apiserverArgs);
    // The serving certificate appears only once the apiserver has generated it.
    await waitFor(
      'kube-apiserver to write its serving certificate',
      () => (existsSync(this.caFile) ? true : undefined),
      {
        timeoutMs,
        abortIf: () => (apiserver.process.exited ? this.#diedMessage(apiserver) : undefined),
      },
    );
    this.caPem = readFileSync(this.caFile, 'utf8');
    await this.#agent?.close();
    this.#agent = new Agent({ connect: { ca: this.caPem } });
    await this.#waitHealthy(apiserver, `${this.server}/readyz`, timeoutMs, this.#agent);
  }

  #spawn(role: string, command: string, args: string[]): Component {
    const component: Component = {
      role,
      process: new ManagedProcess({
        name: role,
        command,
        args,
        logFile: join(this.dir, 'logs', `${role}.log`),
      }),
    };
    this.#components.push(component);
    return component;
  }

  #diedMessage(component: Component): string {
    return (
      `${component.role} exited with code ${String(component.process.exitCode)}. ` +
      `Last lines of ${component.process.logFile}:\n${component.process.logTail()}`
    );
  }

  async #waitHealthy(
    component: Component,
    url: string,
    timeoutMs: number,
    dispatcher: Agent | undefined,
  ): Promise<void> {
    try {
      await waitFor(
        `${component.role} at ${url}`,
        async () => {
          const response = await fetch(url, { dispatcher, signal: AbortSignal.timeout(5_000) });
          const body = await response.text();
          return response.ok ? body : undefined;
        },
        {
          timeoutMs,
          intervalMs: 200,
          abortIf: () => (component.process.exited ? this.#diedMessage(component) : undefined),
        },
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (component.process.exited)
        throw new Error(`${component.role} did not start: ${message}`, { cause: error });
      throw new Error(
        `${component.role} did not become ready: ${message}\nLast lines of ${component.process.logFile}:\n${component.process.logTail()}`,
        { cause: error },
      );
    }
  }

  #writeIdentities(): void {
    // PKCS#1 private key and SPKI public key, the formats kube-apiserver reads for ServiceAccount tokens.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(join(this.dir, 'pki', 'sa.key'), privateKey, { mode: 0o600 });
    writeFileSync(join(this.dir, 'pki', 'sa.pub'), publicKey);
    writeFileSync(
      join(this.dir, 'tokens.csv'),
      [
        `${this.adminToken},admin,admin-uid,"system:masters"`,
        `${this.#kcmToken},system:kube-controller-manager,kcm-uid,"system:masters"`,
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
  }

  #writeKubeconfig(file: string, user: string, token: string): void {
    writeFileSync(file, kubeconfigJson({ server: this.server, caFile: this.caFile, user, token }), {
      mode: 0o600,
    });
  }

  kubectl(args: string[]): Promise<string> {
    return kubectl(this, args);
  }

  async restartApiserver(): Promise<void> {
    const index = this.#components.findIndex((c) => c.role === 'kube-apiserver' && !c.process.exited);
    const current = this.#components[index];
    if (current) {
      await current.process.kill();
      this.#components.splice(index, 1);
    }
    await this.#startApiserver(this.#options.readyTimeoutMs ?? 90_000);
  }

  memoryMiB(): Record<string, number> {
    const result: Record<string, number> = {};
    for (const { role, process: child } of this.#components) {
      if (child.exited) continue;
      const pidFile = `${child.logFile}.pid`;
      if (!existsSync(pidFile)) continue;
      const status = readFileSync(`/proc/${readFileSync(pidFile, 'utf8').trim()}/status`, 'utf8');
      const rss = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      if (rss) result[role] = Math.round(Number(rss) / 1024);
    }
    return result;
  }

  async stop(): Promise<void> {
    // Reverse start order: KCM, then kube-apiserver, then etcd.
    for (const component of [...this.#components].reverse()) await component.process.stop();
    await this.#agent?.close();
    running.delete(this);
    if (!this.#options.keepDir) this.removeDirSync();
  }

  removeDirSync(): void {
    if (!this.#options.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A KubeConfig for the admin user (system:masters). */
export function adminKubeConfig(plane: ControlPlaneInfo): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(plane.adminKubeconfig);
  return config;
}

/** Runs the built kubectl, as admin unless another kubeconfig is given; returns stdout. */
export async function kubectl(
  plane: ControlPlaneInfo,
  args: string[],
  options: { input?: string; kubeconfig?: string } = {},
): Promise<string> {
  const child = execFileAsync(
    binaryPath('kubectl'),
    [`--kubeconfig=${options.kubeconfig ?? plane.adminKubeconfig}`, ...args],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (options.input !== undefined) child.child.stdin?.end(options.input);
  try {
    const { stdout } = await child;
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`kubectl ${args.join(' ')} failed: ${stderr.trim() || String(error)}`, { cause: error });
  }
}

export function kubeconfigJson(options: {
  server: string;
  caFile: string;
  user: string;
  token: string;
}): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'local', cluster: { server: options.server, 'certificate-authority': options.caFile } },
      ],
      users: [{ name: options.user, user: { token: options.token } }],
      contexts: [{ name: options.user, context: { cluster: 'local', user: options.user } }],
      'current-context': options.user,
    },
    null,
    2,
  );
}

/** Starts etcd, kube-apiserver and (by default) kube-controller-manager; see ControlPlaneOptions. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const missing = missingBinaries();
  if (missing.length > 0) {
    throw new Error(
      `The control plane binaries ${missing.join(', ')} are not built. Run \`npm run controlplane:build\` ` +
        '(needs Go >= 1.26; the first build takes tens of minutes).',
    );
  }
  sweepStaleDirs();
  installExitHook();
  const plane = new ControlPlaneImpl(options);
  running.add(plane);
  try {
    await plane.start();
  } catch (error) {
    await plane.stop().catch(() => undefined);
    throw error;
  }
  return plane;
}
