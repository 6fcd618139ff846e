// What a running node changes on the host, and how to undo it: sysctls, mounts, cgroups, the CNI
// bridge, fixed-path directories and left-over shim and pod processes. The originals are written to a
// marker file in the cache before the node starts, so the next start can undo a run that was killed.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { removeServiceAddresses } from './service-proxy.ts';

export const cniBridge = 'cni0';

/** Directories the kubelet, containerd and the CNI plugins use whatever their configuration says. */
export const fixedPaths = [
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/run/containerd',
  '/var/lib/cni',
  '/run/nri',
  '/opt/containerd',
  '/etc/cni',
];

const cgroupNames = ['kubepods', 'k8s.io'];

/** Sysctls that change on their own; restoring them would be wrong, comparing them meaningless. */
const volatileSysctls = [/^kernel\/random\//, /^kernel\/ns_last_pid$/, /^fs\/(dentry|inode|file)-/];

export interface HostState {
  ownerPid: number;
  /** The node's working directory: mounts below it are the node's. */
  nodeDir: string;
  /** Binary whose processes (the runc shims) outlive containerd. */
  shimBinary: string;
  /** Writable /proc/sys files and their values, path relative to /proc/sys. */
  sysctls: Record<string, string>;
  existingPaths: string[];
  existingCgroups: string[];
  bridgeExisted: boolean;
}

function walkSysctls(dir: string, prefix: string, out: Record<string, string>): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      walkSysctls(path, key, out);
      continue;
    }
    if (volatileSysctls.some((pattern) => pattern.test(key))) continue;
    try {
      if ((statSync(path).mode & 0o200) === 0) continue;
      out[key] = readFileSync(path, 'utf8');
    } catch {
      // write-only or refused for this namespace: nothing we could restore
    }
  }
}

export function readSysctls(): Record<string, string> {
  const values: Record<string, string> = {};
  walkSysctls('/proc/sys', '', values);
  return values;
}

/** Every v1 hierarchy and the unified one. */
export function cgroupHierarchies(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint !== '');
}

function nodeCgroups(): string[] {
  return cgroupHierarchies().flatMap((root) =>
    cgroupNames.map((name) => join(root, name)).filter((path) => existsSync(path)),
  );
}

export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((mountPoint) => mountPoint !== '');
}

function bridgeExists(): boolean {
  return existsSync(`/sys/class/net/${cniBridge}`);
}

export function captureHostState(nodeDir: string, shimBinary: string): HostState {
  return {
    ownerPid: process.pid,
    nodeDir,
    shimBinary,
    sysctls: readSysctls(),
    existingPaths: fixedPaths.filter((path) => existsSync(path)),
    existingCgroups: nodeCgroups(),
    bridgeExisted: bridgeExists(),
  };
}

/** A comparable picture of the host, for the test that the node leaves it as it was. */
export function hostSnapshot(): {
  sysctls: Record<string, string>;
  mounts: string[];
  cgroups: string[];
  paths: string[];
  interfaces: string[];
  addresses: string[];
} {
  return {
    sysctls: readSysctls(),
    mounts: mountPoints().sort(),
    cgroups: nodeCgroups(),
    paths: fixedPaths.filter((path) => existsSync(path)),
    interfaces: readdirSync('/sys/class/net').sort(),
    addresses: execFileSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.replace(/\s+valid_lft.*$/, '').trim())
      .filter((line) => line !== '')
      .sort(),
  };
}

function pidsOf(predicate: (pid: number) => boolean): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => pid !== process.pid && predicate(pid));
}

function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${String(pid)}/exe`);
  } catch {
    return undefined;
  }
}

function cgroupProcs(dir: string): number[] {
  const pids: number[] = [];
  const procs = join(dir, 'cgroup.procs');
  if (existsSync(procs)) {
    for (const line of readFileSync(procs, 'utf8').split('\n')) if (line !== '') pids.push(Number(line));
  }
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) pids.push(...cgroupProcs(join(dir, entry.name)));
  }
  return pids;
}

function killAll(pids: number[]): void {
  for (const pid of new Set(pids)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

function removeCgroupTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  }
  rmdirSync(dir);
}

async function retry(what: string, action: () => void): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      action();
      return;
    } catch (error) {
      if (attempt >= 50) {
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`${what}: ${message}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function isNodeMount(mountPoint: string, state: HostState): boolean {
  return (
    mountPoint.startsWith(`${state.nodeDir}/`) ||
    mountPoint === state.nodeDir ||
    /^\/(var\/)?run\/netns\/cni-/.test(mountPoint) ||
    ['/var/lib/kubelet', '/run/containerd', '/var/run/containerd'].some(
      (prefix) => mountPoint === prefix || mountPoint.startsWith(`${prefix}/`),
    )
  );
}

/**
 * Undoes what the node changed, after its kubelet and containerd have stopped: kills the shims and pod
 * processes that outlive them, unmounts, removes cgroups, the bridge and the fixed paths it created,
 * and writes back every sysctl that changed. Returns the sysctls it restored.
 */
export async function restoreHost(state: HostState): Promise<string[]> {
  const cgroups = nodeCgroups().filter((path) => !state.existingCgroups.includes(path));
  killAll([...pidsOf((pid) => exeOf(pid) === state.shimBinary), ...cgroups.flatMap(cgroupProcs)]);

  const mounts = mountPoints()
    .filter((mountPoint) => isNodeMount(mountPoint, state))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) {
    try {
      execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
    } catch {
      // stacked mounts on one point: the first lazy unmount took them
    }
  }
  for (const cgroup of cgroups)
    await retry(`removing cgroup ${cgroup}`, () => {
      removeCgroupTree(cgroup);
    });
  if (!state.bridgeExisted && bridgeExists()) execFileSync('ip', ['link', 'delete', cniBridge]);
  removeServiceAddresses();
  for (const path of fixedPaths) {
    if (!state.existingPaths.includes(path)) rmSync(path, { recursive: true, force: true });
  }

  const restored: string[] = [];
  const current = readSysctls();
  for (const [key, value] of Object.entries(state.sysctls)) {
    if (current[key] === undefined || current[key] === value) continue;
    writeFileSync(join('/proc/sys', key), value);
    restored.push(`${key.replace(/\//g, '.')}: ${current[key].trim()} -> ${value.trim()}`);
  }
  return restored;
}
