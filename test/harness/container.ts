// Runs an image from the local buildah store the way a kubelet's runtime does: runc (the runtime under
// containerd and CRI-O) with the image's user, entrypoint and environment, a read-only root filesystem,
// no capabilities, no_new_privs, its own PID namespace (so the entrypoint is PID 1) and read-only bind
// mounts. The network is the host's, so that it reaches the local control plane and emulators.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTools } from '../../scripts/image/command.ts';
import { buildah, buildahOutput } from '../../scripts/image/store.ts';
import { ManagedProcess } from './process.ts';

export interface BindMount {
  source: string;
  destination: string;
}

export interface ContainerOptions {
  image: string;
  /** Unique among running containers; also the runc container id. */
  name: string;
  logDir: string;
  args: string[];
  env?: Record<string, string>;
  mounts?: BindMount[];
}

interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
}

export interface RunningContainer {
  readonly name: string;
  readonly logFile: string;
  readonly process: ManagedProcess;
  readonly user: { uid: number; gid: number };
  /** The entrypoint's pid as the host sees it. */
  hostPid(): number;
  /** A signal to the entrypoint, as `kubectl delete pod` has the runtime send SIGTERM. */
  signal(name: 'SIGTERM' | 'SIGKILL'): void;
  logs(): string;
  /** Stops it if still running (SIGTERM, then SIGKILL after 15 s) and removes every trace. */
  remove(): Promise<void>;
}

function numericUser(user: string | undefined): { uid: number; gid: number } {
  const match = /^(\d+)(?::(\d+))?$/.exec(user ?? '');
  if (!match?.[1]) throw new Error(`the image's USER is ${JSON.stringify(user)}, not a numeric uid[:gid]`);
  return { uid: Number(match[1]), gid: Number(match[2] ?? match[1]) };
}

/** The OCI runtime spec: runc's defaults (`runc spec`) minus the network namespace and the terminal. */
export function ociSpec(input: {
  rootfs: string;
  hostname: string;
  config: ImageConfig;
  args: string[];
  env: Record<string, string>;
  mounts: BindMount[];
}): object {
  const { uid, gid } = numericUser(input.config.User);
  const env = [
    ...(input.config.Env ?? []),
    ...Object.entries(input.env).map(([key, value]) => `${key}=${value}`),
  ];
  const pseudo = (destination: string, type: string, options: string[], source = type): object => ({
    destination,
    type,
    source,
    options,
  });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid, gid },
      args: [...(input.config.Entrypoint ?? []), ...input.args],
      env,
      cwd: input.config.WorkingDir ?? '/',
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: true },
    hostname: input.hostname,
    mounts: [
      pseudo('/proc', 'proc', []),
      pseudo('/dev', 'tmpfs', ['nosuid', 'strictatime', 'mode=755', 'size=65536k']),
      pseudo('/dev/pts', 'devpts', ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']),
      pseudo('/dev/shm', 'tmpfs', ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'], 'shm'),
      pseudo('/dev/mqueue', 'mqueue', ['nosuid', 'noexec', 'nodev']),
      pseudo('/sys', 'sysfs', ['nosuid', 'noexec', 'nodev', 'ro']),
      ...input.mounts.map((mount) => ({
        destination: mount.destination,
        type: 'bind',
        source: mount.source,
        options: ['rbind', 'ro', 'nosuid', 'nodev'],
      })),
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

export async function startContainer(options: ContainerOptions): Promise<RunningContainer> {
  mkdirSync(options.logDir, { recursive: true });
  const logFile = join(options.logDir, `${options.name}.log`);
  await ensureTools(['buildah', 'runc'], logFile);
  const inspected = buildahOutput(['inspect', '--type', 'image', options.image]);
  if (!inspected) throw new Error(`image ${options.image} is not in the local buildah store`);
  const config = (JSON.parse(inspected) as { OCIv1: { config: ImageConfig } }).OCIv1.config;

  // A working container gives the image a root filesystem of its own; runc only reads it.
  await buildah(['from', '--pull-never', '--name', options.name, options.image], logFile);
  const rootfs = buildahOutput(['mount', options.name]);
  if (!rootfs) throw new Error(`buildah mount ${options.name} failed; see ${logFile}`);
  const bundle = join(options.logDir, `${options.name}-bundle`);
  mkdirSync(bundle, { recursive: true });
  const spec = ociSpec({
    rootfs,
    hostname: options.name,
    config,
    args: options.args,
    env: options.env ?? {},
    mounts: [
      { source: '/etc/hosts', destination: '/etc/hosts' },
      { source: '/etc/resolv.conf', destination: '/etc/resolv.conf' },
      ...(options.mounts ?? []),
    ],
  });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));

  const child = new ManagedProcess({
    name: options.name,
    command: 'runc',
    args: ['run', '--bundle', bundle, options.name],
    logFile,
    graceSeconds: 15,
  });
  const hostPid = (): number => {
    const state = JSON.parse(execFileSync('runc', ['state', options.name], { encoding: 'utf8' })) as {
      pid: number;
    };
    return state.pid;
  };
  return {
    name: options.name,
    logFile,
    process: child,
    user: numericUser(config.User),
    hostPid,
    signal: (name) => {
      execFileSync('runc', ['kill', options.name, name]);
    },
    logs: () => readFileSync(logFile, 'utf8'),
    remove: async () => {
      await child.stop();
      try {
        execFileSync('runc', ['delete', '--force', options.name], { stdio: 'ignore' });
      } catch {
        // runc run removes the container itself when it exits
      }
      await buildah(['rm', options.name], logFile);
    },
  };
}
