// `npm run cluster`: a local control plane that stays up until Ctrl-C, for poking at with kubectl.
import { ensureControlPlaneBuilt } from './controlplane/build.ts';
import { binaryPath } from './controlplane/paths.ts';
import { startControlPlane } from './harness/controlplane.ts';
import { crdFiles } from './harness/crds.ts';

await ensureControlPlaneBuilt();
const plane = await startControlPlane({ crdFiles: crdFiles() });
const kubectl = binaryPath('kubectl');
console.log(
  `Kubernetes control plane ready in ${(plane.startedInMs / 1000).toFixed(1)} s at ${plane.server}`,
);
console.log(`memory (MiB): ${JSON.stringify(plane.memoryMiB())}`);
console.log('');
console.log(`  export KUBECONFIG=${plane.adminKubeconfig}`);
console.log(`  ${kubectl} get namespaces`);
console.log(`  ${kubectl} get apicredentials -A`);
console.log('');
console.log(`logs: ${plane.dir}/logs. Press Ctrl-C to stop; nothing is left running.`);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the control plane...');
  await plane.stop();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
