// `npm run cluster`: a local control plane that stays up until Ctrl-C, for poking at with kubectl.
// `npm run cluster -- --node` (as root) also starts a real node (test/node/), so pods run.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { ensureControlPlaneBuilt } from './controlplane/build.ts';
import { binaryPath } from './controlplane/paths.ts';
import { startControlPlane, type ControlPlane } from './harness/controlplane.ts';
import { crdFiles } from './harness/crds.ts';
import { ensureNodeBuilt } from './node/build.ts';
import { prepareNode, startNode, type RunningNode } from './node/node.ts';
import { containerdBinary } from './node/paths.ts';

const { values } = parseArgs({ options: { node: { type: 'boolean', default: false } } });
if (values.node && process.getuid?.() !== 0) {
  console.error('--node runs a kubelet and containerd, which need root: run it as root');
  process.exit(1);
}

await ensureControlPlaneBuilt();
if (values.node) await ensureNodeBuilt();
const prepared = values.node ? await prepareNode() : undefined;
let plane: ControlPlane | undefined;
let node: RunningNode | undefined;
try {
  plane = await startControlPlane({
    crdFiles: crdFiles(),
    ...(prepared ? { nodeClientCaFile: prepared.clientCaFile } : {}),
  });
  if (prepared) node = await startNode(prepared, plane);
} catch (error) {
  await plane?.stop();
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
const kubectl = binaryPath('kubectl');
console.log(
  `Kubernetes control plane ready in ${(plane.startedInMs / 1000).toFixed(1)} s at ${plane.server}`,
);
console.log(`memory (MiB): ${JSON.stringify(plane.memoryMiB())}`);
console.log('');
console.log(`  export KUBECONFIG=${plane.adminKubeconfig}`);
console.log(`  ${kubectl} get namespaces`);
console.log(`  ${kubectl} get apicredentials -A`);
if (node) {
  console.log('');
  console.log(
    `Node ${node.name} Ready in ${(node.startedInMs / 1000).toFixed(1)} s; pods reach the apiserver`,
  );
  console.log('through the kubernetes Service. Nothing is pulled from a registry: import images first, e.g.');
  console.log(
    `  ${containerdBinary('ctr')} --address=${join(node.dir, 'containerd.sock')} -n k8s.io images import apicred-operator.tar`,
  );
}
console.log('');
console.log(
  `logs: ${plane.dir}/logs${node ? ` and ${node.dir}/logs` : ''}. Press Ctrl-C to stop; nothing is left running.`,
);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (node) {
    console.log('\nstopping the node...');
    await node.stop();
  }
  console.log('\nstopping the control plane...');
  await plane?.stop();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
