import { describe, expect, it } from 'vitest';
import type { InputReference } from '../providers/types.ts';
import { readInputs, SharedObjectReads, type ObjectRead } from './inputs.ts';

/** A reader whose GETs stay in flight until the test settles them. */
function heldReads(): {
  read: ObjectRead;
  calls: string[];
  settle: (values: Record<string, string> | Error) => void;
} {
  const calls: string[] = [];
  const pending: ((values: Record<string, string> | Error) => void)[] = [];
  return {
    calls,
    read: (kind, namespace, name) => {
      calls.push(`${kind} ${namespace}/${name}`);
      return new Promise((resolve, reject) => {
        pending.push((values) => {
          if (values instanceof Error) reject(values);
          else resolve(values);
        });
      });
    },
    settle: (values) => {
      for (const finish of pending.splice(0)) finish(values);
    },
  };
}

const ref = (name: string, key: string): InputReference => ({
  kind: 'Secret',
  name,
  key,
  fieldPath: `spec.${key}`,
  secret: true,
});

describe('SharedObjectReads', () => {
  it('makes one GET for concurrent reads of one object at one cached version', async () => {
    const api = heldReads();
    const shared = new SharedObjectReads(api.read, () => '7');
    const reads = Array.from({ length: 5 }, () =>
      readInputs(shared.read, 'team-a', [ref('client', 'secret')]),
    );
    expect(api.calls).toEqual(['Secret team-a/client']);
    api.settle({ secret: 's3cret-value' });
    for (const { inputs, secrets } of await Promise.all(reads)) {
      expect(inputs.get(ref('client', 'secret'))).toBe('s3cret-value');
      expect(secrets).toEqual(['s3cret-value']);
    }
    // Settled: nothing kept, the next read asks again.
    expect(shared.inFlight).toBe(0);
    void shared.read('Secret', 'team-a', 'client');
    expect(api.calls).toHaveLength(2);
  });

  it('does not share between cached versions, objects or namespaces', () => {
    const api = heldReads();
    let version = '7';
    const shared = new SharedObjectReads(api.read, () => version);
    void shared.read('Secret', 'team-a', 'client');
    version = '8'; // the cache saw a change: a GET started before it may hold the old values
    void shared.read('Secret', 'team-a', 'client');
    void shared.read('Secret', 'team-b', 'client');
    void shared.read('ConfigMap', 'team-a', 'client');
    expect(api.calls).toHaveLength(4);
  });

  it('gives every reader the failure of the shared GET, then forgets it', async () => {
    const api = heldReads();
    const shared = new SharedObjectReads(api.read, () => '7');
    const reads = [shared.read('Secret', 'team-a', 'client'), shared.read('Secret', 'team-a', 'client')];
    api.settle(new Error('apiserver unavailable'));
    for (const read of reads) await expect(read).rejects.toThrow('apiserver unavailable');
    expect(shared.inFlight).toBe(0);
  });
});
