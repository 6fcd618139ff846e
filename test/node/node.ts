// A real node beside the test control plane: containerd 2 with Debian's runc, a kubelet registered with
// the apiserver as system:node:<name>, kube-scheduler, and a proxy that gives pods the `kubernetes`
// Service (service-proxy.ts), so that in-cluster clients reach the apiserver. Binaries from test/node/build.ts. The host
// changes it makes are undone at stop, and at the next start after a killed run (see host-state.ts).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ManagedProcess, processAlive } from '../harness/process.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { binaryPath } from '../controlplane/paths.ts';
import { ensureTools } from '../../scripts/image/command.ts';
import { captureHostState, restoreHost, type HostState } from './host-state.ts';
import { ServiceProxy, type ProxyTarget } from './service-proxy.ts';
import {
  cniBinDir,
  containerdBinary,
  containerdBinDir,
  hostStateMarker,
  imageTar,
  kubeNodeBinary,
  nodeImages,
} from './paths.ts';

const execFileAsync = promisify(execFile);
export const nodeName = 'apicred-node';
/** The pod network of the bridge plugin; only this machine's own pods live there. */
const podSubnet = '10.244.0.0/24';
const runc = '/usr/sbin/runc';

/** The node's directory and client CA, made before the control plane starts so it can trust the CA. */
export interface PreparedNode {
  readonly dir: string;
  readonly clientCaFile: string;
  /** Sysctls a killed earlier run left changed and this start restored ("key: now -> was"). */
  readonly restoredFromKilledRun: string[];
}

export interface NodeControlPlane {
  server: string;
  caFile: string;
  adminKubeconfig: string;
}

export interface RunningNode {
  readonly name: string;
  readonly dir: string;
  /** Where the kubelet writes container logs: <podLogsDir>/<ns>_<pod>_<uid>/<container>/0.log. */
  readonly podLogsDir: string;
  readonly startedInMs: number;
  /** Component logs, for a test to print on failure. */
  logTails(): string;
  /**
   * Makes a Service's ClusterIP and first port reach a process on the host's loopback, for pods (and
   * this host) alike. The `kubernetes` Service is exposed at start.
   */
  exposeService(
    namespace: string,
    name: string,
    target: ProxyTarget,
  ): Promise<{ address: string; port: number }>;
  /** Imports an OCI image archive into containerd's k8s.io namespace, for imagePullPolicy Never/IfNotPresent. */
  importImage(tarFile: string): Promise<void>;
  /** Stops everything and undoes the host changes; returns the sysctls it restored. */
  stop(): Promise<string[]>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issueClientCert(pki: string, name: string, subject: string): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], pki);
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], pki);
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-days',
      '2',
      '-out',
      `${name}.crt`,
    ]),
    pki,
  );
}

/** Undoes a killed run's host changes (from the marker), then records the host as it is now. */
export async function prepareNode(): Promise<PreparedNode> {
  let restoredFromKilledRun: string[] = [];
  if (existsSync(hostStateMarker)) {
    const previous = JSON.parse(readFileSync(hostStateMarker, 'utf8')) as HostState;
    if (processAlive(previous.ownerPid) && previous.ownerPid !== process.pid) {
      throw new Error(
        `a node of process ${String(previous.ownerPid)} is running (${hostStateMarker}); only one node fits on a machine`,
      );
    }
    restoredFromKilledRun = await restoreHost(previous);
    rmSync(previous.nodeDir, { recursive: true, force: true });
    rmSync(hostStateMarker);
  }
  const dir = mkdtempSync(join(tmpdir(), 'apicred-node-'));
  const pki = join(dir, 'pki');
  for (const sub of ['pki', 'logs', 'cni/conf', 'kubelet', 'pod-logs', 'volume-plugins']) {
    mkdirSync(join(dir, sub), { recursive: true });
  }
  writeFileSync(
    hostStateMarker,
    JSON.stringify(captureHostState(dir, containerdBinary('containerd-shim-runc-v2'))),
  );
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=apicred-node-ca',
    ]),
    pki,
  );
  issueClientCert(pki, 'kubelet', `/O=system:nodes/CN=system:node:${nodeName}`);
  issueClientCert(pki, 'scheduler', '/CN=system:kube-scheduler');
  return { dir, clientCaFile: join(pki, 'ca.crt'), restoredFromKilledRun };
}

function certKubeconfig(plane: NodeControlPlane, pki: string, user: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server: plane.server, 'certificate-authority': plane.caFile } }],
    users: [
      {
        name: user,
        user: {
          'client-certificate': join(pki, `${user}.crt`),
          'client-key': join(pki, `${user}.key`),
        },
      },
    ],
    contexts: [{ name: user, context: { cluster: 'local', user } }],
    'current-context': user,
  });
}

function containerdConfig(dir: string): string {
  const state = join(dir, 'containerd');
  return `version = 3
root = "${state}/root"
state = "${state}/state"

[grpc]
  address = "${state}.sock"

[ttrpc]
  address = "${state}.sock.ttrpc"

[metrics]
  address = ""

[plugins.'io.containerd.internal.v1.opt']
  path = "${state}/opt"

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "${nodeImages.pause.ref}"

[plugins.'io.containerd.cri.v1.runtime']
  # Our VMs lack CAP_SYS_RESOURCE even as root: runc's write to oom_score_adj fails without this.
  restrict_oom_score_adj = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["${cniBinDir}"]
  conf_dir = "${dir}/cni/conf"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = "${runc}"
  Root = "${state}/runc"
`;
}

function cniConfig(dir: string): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'apicred-pods',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: 'host-local',
          dataDir: join(dir, 'cni', 'ipam'),
          ranges: [[{ subnet: podSubnet }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
    ],
  });
}

function kubeletConfig(dir: string, socket: string, port: number, healthzPort: number): string {
  return JSON.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // This machine has cgroup v1 hierarchies; the 1.37 kubelet refuses them unless told not to.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: true,
    enforceNodeAllocatable: ['pods'],
    failSwapOn: false,
    oomScoreAdj: 0,
    makeIPTablesUtilChains: false,
    resolvConf: '',
    localStorageCapacityIsolation: false,
    evictionHard: {},
    volumePluginDir: join(dir, 'volume-plugins'),
    podLogsDir: join(dir, 'pod-logs'),
    containerRuntimeEndpoint: `unix://${socket}`,
    address: '127.0.0.1',
    port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: {} },
    authorization: { mode: 'AlwaysAllow' },
    // syncFrequency and configMapAndSecretChangeDetectionStrategy stay at their defaults (1m, Watch):
    // the Secret propagation delay is what the operator's margin must cover.
  });
}

class Node implements RunningNode {
  readonly name = nodeName;
  readonly dir: string;
  readonly podLogsDir: string;
  startedInMs = 0;
  readonly #components: ManagedProcess[] = [];
  readonly #plane: NodeControlPlane;
  readonly #services = new ServiceProxy();

  constructor(prepared: PreparedNode, plane: NodeControlPlane) {
    this.dir = prepared.dir;
    this.podLogsDir = join(prepared.dir, 'pod-logs');
    this.#plane = plane;
  }

  #spawn(name: string, command: string, args: string[]): ManagedProcess {
    const child = new ManagedProcess({
      name,
      command,
      args,
      logFile: join(this.dir, 'logs', `${name}.log`),
      // containerd finds the runc shim on PATH.
      env: { ...process.env, PATH: `${containerdBinDir}:${process.env.PATH ?? ''}` },
    });
    this.#components.push(child);
    return child;
  }

  #died(child: ManagedProcess): string | undefined {
    if (!child.exited) return undefined;
    return `${child.name} exited with code ${String(child.exitCode)}. Last lines of ${child.logFile}:\n${child.logTail()}`;
  }

  async start(): Promise<void> {
    const started = Date.now();
    // Debian's runc; buildah brings crun instead, so a machine with the image tools may lack it.
    await ensureTools(['runc'], join(this.dir, 'logs', 'apt-get.log'));
    const pki = join(this.dir, 'pki');
    const socket = join(this.dir, 'containerd.sock');
    writeFileSync(join(this.dir, 'containerd.toml'), containerdConfig(this.dir));
    writeFileSync(join(this.dir, 'cni', 'conf', '10-apicred.conflist'), cniConfig(this.dir));
    const containerd = this.#spawn('containerd', containerdBinary('containerd'), [
      `--config=${join(this.dir, 'containerd.toml')}`,
    ]);
    await waitFor('containerd socket', () => (existsSync(socket) ? true : undefined), {
      timeoutMs: 30_000,
      abortIf: () => this.#died(containerd),
    });
    for (const image of Object.values(nodeImages)) await this.importImage(imageTar(image.program));

    const [kubeletPort, healthzPort, schedulerPort] = await Promise.all([freePort(), freePort(), freePort()]);
    writeFileSync(join(this.dir, 'kubelet.kubeconfig'), certKubeconfig(this.#plane, pki, 'kubelet'));
    writeFileSync(join(this.dir, 'kubelet.yaml'), kubeletConfig(this.dir, socket, kubeletPort, healthzPort));
    const kubelet = this.#spawn('kubelet', kubeNodeBinary('kubelet'), [
      `--config=${join(this.dir, 'kubelet.yaml')}`,
      `--kubeconfig=${join(this.dir, 'kubelet.kubeconfig')}`,
      `--root-dir=${join(this.dir, 'kubelet')}`,
      `--cert-dir=${join(this.dir, 'kubelet', 'pki')}`,
      `--hostname-override=${nodeName}`,
      '--v=1',
    ]);
    writeFileSync(join(this.dir, 'scheduler.kubeconfig'), certKubeconfig(this.#plane, pki, 'scheduler'));
    const scheduler = this.#spawn('kube-scheduler', kubeNodeBinary('kube-scheduler'), [
      `--kubeconfig=${join(this.dir, 'scheduler.kubeconfig')}`,
      `--authentication-kubeconfig=${join(this.dir, 'scheduler.kubeconfig')}`,
      `--authorization-kubeconfig=${join(this.dir, 'scheduler.kubeconfig')}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${String(schedulerPort)}`,
      '--v=1',
    ]);
    await waitFor(
      `node ${nodeName} to become Ready`,
      async () => {
        const { stdout } = await execFileAsync(binaryPath('kubectl'), [
          `--kubeconfig=${this.#plane.adminKubeconfig}`,
          'get',
          'node',
          nodeName,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return stdout.trim() === 'True' ? true : undefined;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 500,
        abortIf: () => this.#died(containerd) ?? this.#died(kubelet) ?? this.#died(scheduler),
      },
    ).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${this.logTails()}`, {
        cause: error,
      });
    });
    const apiserver = new URL(this.#plane.server);
    await this.exposeService('default', 'kubernetes', {
      host: apiserver.hostname,
      port: Number(apiserver.port),
    });
    this.startedInMs = Date.now() - started;
  }

  async importImage(tarFile: string): Promise<void> {
    await execFileAsync(containerdBinary('ctr'), [
      `--address=${join(this.dir, 'containerd.sock')}`,
      '-n',
      'k8s.io',
      'images',
      'import',
      '--local',
      tarFile,
    ]).catch((error: unknown) => {
      const stderr = (error as { stderr?: string }).stderr ?? String(error);
      throw new Error(`ctr images import ${tarFile} failed: ${stderr}`, { cause: error });
    });
  }

  async exposeService(
    namespace: string,
    name: string,
    target: ProxyTarget,
  ): Promise<{ address: string; port: number }> {
    const { stdout } = await execFileAsync(binaryPath('kubectl'), [
      `--kubeconfig=${this.#plane.adminKubeconfig}`,
      'get',
      'service',
      '-n',
      namespace,
      name,
      '-o',
      'jsonpath={.spec.clusterIP} {.spec.ports[0].port}',
    ]);
    const [address = '', port = ''] = stdout.trim().split(' ');
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(address) || !/^\d+$/.test(port)) {
      throw new Error(`Service ${namespace}/${name} has no IPv4 ClusterIP and port (got "${stdout}")`);
    }
    await this.#services.expose(address, Number(port), target);
    return { address, port: Number(port) };
  }

  logTails(): string {
    return this.#components
      .map((child) => `--- ${child.name} (${child.logFile}):\n${child.logTail(40)}`)
      .join('\n');
  }

  async stop(): Promise<string[]> {
    await this.#services.stop();
    for (const child of [...this.#components].reverse()) await child.stop();
    const state = JSON.parse(readFileSync(hostStateMarker, 'utf8')) as HostState;
    const restored = await restoreHost(state);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(hostStateMarker, { force: true });
    return restored;
  }
}

/** Starts containerd, the kubelet and kube-scheduler; resolves when the Node is Ready. */
export async function startNode(prepared: PreparedNode, plane: NodeControlPlane): Promise<RunningNode> {
  const node = new Node(prepared, plane);
  try {
    await node.start();
  } catch (error) {
    await node.stop().catch(() => undefined);
    throw error;
  }
  return node;
}
