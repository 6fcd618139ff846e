// A run SIGKILLed with a pod running leaves shims, mounts, cgroups, cni0 and changed sysctls behind; the
// next prepareNode() must put the machine back as it was before that run.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { hostSnapshot } from '../node/host-state.ts';
import { prepareNode } from '../node/node.ts';
import { hostStateMarker, nodeCacheDir } from '../node/paths.ts';
import { waitFor } from '../harness/wait.ts';

/** Whether a kubelet, containerd or kube-scheduler from the node cache still runs (shims are the node's to clean). */
function nodeComponentsRunning(): boolean {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .some((pid) => {
      try {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
        return command.startsWith(nodeCacheDir) && /\/(kubelet|containerd|kube-scheduler)$/.test(command);
      } catch {
        return false;
      }
    });
}

it('restores the host at the next start after a SIGKILLed run', async () => {
  const before = hostSnapshot();
  const child = spawn(process.execPath, [join(import.meta.dirname, 'node-until-killed.ts')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no running pod within 240 s:\n${output}`));
    }, 240_000);
    child.stdout.on('data', () => {
      if (output.includes('RUNNING\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the node process exited before its pod ran:\n${output}`));
    });
  });
  // The run really changed the host: otherwise the comparison below proves nothing.
  const during = hostSnapshot();
  expect(during.interfaces).toContain('cni0');
  expect(during.cgroups.length).toBeGreaterThan(0);
  child.kill('SIGKILL');
  await exited;
  // The guard of each child process ends it once its parent is gone; wait for that, not a fixed time.
  await waitFor("the killed run's components to end", () => (nodeComponentsRunning() ? undefined : true), {
    timeoutMs: 30_000,
    intervalMs: 200,
  });

  const prepared = await prepareNode();
  try {
    process.stderr.write(`[node] restored after the kill: ${prepared.restoredFromKilledRun.join('; ')}\n`);
    expect(prepared.restoredFromKilledRun.length).toBeGreaterThan(0);
    expect(hostSnapshot()).toEqual(before);
  } finally {
    rmSync(prepared.dir, { recursive: true, force: true });
    rmSync(hostStateMarker, { force: true });
  }
});
