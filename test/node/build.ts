// Builds the node for the node tier into the cache, once: kubelet and kube-scheduler from the pinned
// k8s.io/kubernetes (test/node/kube/go.mod, the same version as the control plane), containerd 2 and
// the CNI plugins (test/node/containerd/go.mod), and two static images (pause, file-reader). runc is Debian's.
// Run as `npm run node:build`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { versionLdflags } from '../controlplane/build.ts';
import { ensureGoToolsBuilt, requiredVersion, runBuildCommand, type BuildResult } from '../go-tools/build.ts';
import { ociImageLayoutTar } from './oci-image.ts';
import { cniBinDir, containerdBinDir, imageTar, imagesDir, kubeNodeBinDir, nodeImages } from './paths.ts';

const here = dirname(fileURLToPath(import.meta.url));
const kubeModule = join(here, 'kube');
const containerdModule = join(here, 'containerd');

function log(message: string): void {
  process.stderr.write(`[node] ${message}\n`);
}

function ensureKubeBuilt(): Promise<BuildResult> {
  const ldflags = versionLdflags(requiredVersion(kubeModule, 'k8s.io/kubernetes'));
  return ensureGoToolsBuilt({
    name: 'node',
    moduleDir: kubeModule,
    binDir: kubeNodeBinDir,
    coldBuildHint: 'with the control plane built, most k8s packages are in the Go cache',
    tools: [
      { output: 'kubelet', pkg: 'k8s.io/kubernetes/cmd/kubelet', ldflags },
      { output: 'kube-scheduler', pkg: 'k8s.io/kubernetes/cmd/kube-scheduler', ldflags },
    ],
  });
}

function ensureContainerdBuilt(): Promise<BuildResult> {
  const version = requiredVersion(containerdModule, 'github.com/containerd/containerd/v2');
  const pkg = 'github.com/containerd/containerd/v2/version';
  const ldflags = `-X ${pkg}.Version=${version} -X ${pkg}.Revision=${version} -X ${pkg}.Package=github.com/containerd/containerd/v2`;
  const cmd = (name: string): string => `github.com/containerd/containerd/v2/cmd/${name}`;
  return ensureGoToolsBuilt({
    name: 'node',
    moduleDir: containerdModule,
    binDir: containerdBinDir,
    coldBuildHint: 'a cold build of containerd takes a few minutes on 2 cores',
    tools: ['containerd', 'ctr', 'containerd-shim-runc-v2'].map((name) => ({
      output: name,
      pkg: cmd(name),
      ldflags,
    })),
  });
}

function ensureCniBuilt(): Promise<BuildResult> {
  const version = requiredVersion(containerdModule, 'github.com/containernetworking/plugins');
  const ldflags = `-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=${version}`;
  const plugins = 'github.com/containernetworking/plugins/plugins';
  // Only the plugins on the CNI bin dir: the kubelet's network config names them by file name.
  return ensureGoToolsBuilt({
    name: 'node',
    moduleDir: containerdModule,
    binDir: cniBinDir,
    coldBuildHint: 'the CNI plugins take seconds',
    tools: ['main/bridge', 'main/loopback', 'ipam/host-local', 'meta/portmap'].map((path) => ({
      output: path.split('/')[1] ?? path,
      pkg: `${plugins}/${path}`,
      ldflags,
    })),
  });
}

function gccVersion(): string {
  try {
    return execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  } catch {
    throw new Error(
      'gcc is not installed; the pause image is a static C program (apt-get install gcc libc6-dev)',
    );
  }
}

/** A static C program packed as an OCI image-layout tar: rebuilt when its source or gcc changes. */
function ensureImageBuilt(image: { ref: string; program: string }): boolean {
  const source = join(here, 'images', `${image.program}.c`);
  const tarFile = imageTar(image.program);
  const stamp = createHash('sha256')
    .update(readFileSync(source))
    .update(readFileSync(join(here, 'oci-image.ts')))
    .update(gccVersion())
    .update(image.ref)
    .digest('hex');
  const stampFile = `${tarFile}.stamp`;
  if (existsSync(tarFile) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp) {
    return false;
  }
  mkdirSync(imagesDir, { recursive: true });
  rmSync(stampFile, { force: true });
  const binary = join(imagesDir, image.program);
  execFileSync('gcc', ['-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror', '-o', binary, source]);
  const content = ociImageLayoutTar({
    ref: image.ref,
    entrypoint: [`/${image.program}`],
    files: [{ path: image.program, content: readFileSync(binary), mode: 0o755 }],
  });
  writeFileSync(`${tarFile}.partial`, content);
  renameSync(`${tarFile}.partial`, tarFile);
  writeFileSync(stampFile, `${stamp}\n`);
  log(`image ${image.ref} built (${String(content.length)} bytes)`);
  return true;
}

/** Builds whatever part of the node is missing or stale; otherwise returns at once. */
export async function ensureNodeBuilt(): Promise<BuildResult> {
  const started = Date.now();
  const results = [await ensureContainerdBuilt(), await ensureCniBuilt(), await ensureKubeBuilt()];
  const imagesBuilt = Object.values(nodeImages).map(ensureImageBuilt);
  return {
    built: imagesBuilt.includes(true) || results.some((result) => result.built),
    seconds: Math.round((Date.now() - started) / 1000),
    binDir: join(kubeNodeBinDir, '..', '..'),
  };
}

if (import.meta.main) await runBuildCommand('node', ensureNodeBuilt);
