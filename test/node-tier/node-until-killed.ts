// Started by crash-recovery.test.ts: a control plane and a node with one running pod, then it waits to be
// SIGKILLed, so nothing of its own stop() runs and the next prepareNode() must clean up after it.
import { kubectl, startControlPlane } from '../harness/controlplane.ts';
import { waitFor } from '../harness/wait.ts';
import { prepareNode, startNode } from '../node/node.ts';
import { nodeImages } from '../node/paths.ts';

const prepared = await prepareNode();
const plane = await startControlPlane({ nodeClientCaFile: prepared.clientCaFile });
await startNode(prepared, plane);
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'left-behind', namespace: 'default' },
  spec: { containers: [{ name: 'sleep', image: nodeImages.pause.ref, imagePullPolicy: 'Never' }] },
};
await kubectl(plane, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
await waitFor(
  'the pod to run',
  async () =>
    (await kubectl(plane, ['get', 'pod', 'left-behind', '-o', 'jsonpath={.status.phase}'])).trim() ===
    'Running'
      ? true
      : undefined,
  { timeoutMs: 90_000, intervalMs: 500 },
);
process.stdout.write('RUNNING\n');
setInterval(() => undefined, 60_000);
