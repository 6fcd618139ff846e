// The node tier: a real kubelet, containerd and kube-scheduler beside the control plane. Pods run, a
// mounted Secret reaches the container, and the host is left as it was.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startControlPlane, type ControlPlane } from '../harness/controlplane.ts';
import { waitFor } from '../harness/wait.ts';
import { hostSnapshot } from '../node/host-state.ts';
import { prepareNode, startNode, type RunningNode } from '../node/node.ts';
import { nodeImages } from '../node/paths.ts';

let plane: ControlPlane | undefined;
let node: RunningNode | undefined;
let before: ReturnType<typeof hostSnapshot>;

beforeAll(async () => {
  const prepared = await prepareNode();
  before = hostSnapshot();
  plane = await startControlPlane({ nodeClientCaFile: prepared.clientCaFile });
  node = await startNode(prepared, plane);
  process.stderr.write(`[node] Ready in ${String(node.startedInMs)} ms\n`);
});

afterAll(async () => {
  await node?.stop();
  await plane?.stop();
});

function running(): { plane: ControlPlane; node: RunningNode } {
  if (!plane || !node) throw new Error('the node did not start');
  return { plane, node };
}

async function apply(manifest: object): Promise<void> {
  await kubectl(running().plane, ['apply', '-f', '-'], { input: JSON.stringify(manifest) });
}

/** Waits for a pod condition, with the node's component logs in the error. */
async function waitForPod(
  selector: string[],
  what: string,
  jsonpath: string,
  expected: string,
): Promise<void> {
  const { plane, node } = running();
  try {
    await waitFor(
      what,
      async () => {
        const out = await kubectl(plane, ['get', 'pods', ...selector, '-o', `jsonpath=${jsonpath}`]);
        return out.trim() === expected ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  } catch (error) {
    const pods = await kubectl(plane, ['get', 'pods', ...selector, '-o', 'yaml']).catch(String);
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}\n${pods}\n${node.logTails()}`,
      { cause: error },
    );
  }
}

function containerLog(podName: string): string {
  const { node } = running();
  const podDir = readdirSync(node.podLogsDir).find((entry) => entry.startsWith(`default_${podName}_`));
  if (!podDir) return '';
  const containerDir = join(node.podLogsDir, podDir, 'reader');
  const file = readdirSync(containerDir).find((entry) => entry.endsWith('.log'));
  return file ? readFileSync(join(containerDir, file), 'utf8') : '';
}

describe('a real node', () => {
  it('registers with the apiserver as system:node:<name> and becomes Ready', async () => {
    const { plane, node } = running();
    const ready = await kubectl(plane, [
      'get',
      'node',
      node.name,
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    ]);
    expect(ready).toBe('True');
  });

  it("schedules a Deployment's pod, which becomes Running and Ready", async () => {
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'sleeper', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'sleeper' } },
        template: {
          metadata: { labels: { app: 'sleeper' } },
          spec: {
            containers: [{ name: 'sleep', image: nodeImages.pause.ref, imagePullPolicy: 'Never' }],
          },
        },
      },
    });
    await waitForPod(
      ['-l', 'app=sleeper'],
      'the Deployment pod to be Running and Ready',
      '{.items[*].status.phase}/{.items[*].status.conditions[?(@.type=="Ready")].status}',
      'Running/True',
    );
    const nodeName = await kubectl(running().plane, [
      'get',
      'pods',
      '-l',
      'app=sleeper',
      '-o',
      'jsonpath={.items[0].spec.nodeName}',
    ]);
    expect(nodeName).toBe(running().node.name);
  });

  it('mounts a Secret that the container reads', async () => {
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'mounted', namespace: 'default' },
      stringData: { token: 'first-value' },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'secret-reader', namespace: 'default' },
      spec: {
        containers: [
          {
            name: 'reader',
            image: nodeImages.fileReader.ref,
            imagePullPolicy: 'Never',
            args: ['/secret/token'],
            volumeMounts: [{ name: 'token', mountPath: '/secret', readOnly: true }],
          },
        ],
        volumes: [{ name: 'token', secret: { secretName: 'mounted' } }],
      },
    });
    await waitForPod(['secret-reader'], 'the Secret-mounting pod to run', '{.status.phase}', 'Running');
    const line = await waitFor(
      'the container to print the mounted token',
      () =>
        containerLog('secret-reader').includes('first-value') ? containerLog('secret-reader') : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(line).toMatch(/ stdout F \d+ first-value/);
  });

  it('leaves the host as it was after stop', async () => {
    const { node: started } = running();
    node = undefined;
    const restored = await started.stop();
    process.stderr.write(`[node] restored at stop: ${restored.join('; ') || '(nothing)'}\n`);
    expect(hostSnapshot()).toEqual(before);
  });
});
