import { describe, expect, it } from 'vitest';
import {
  ResilientInformer,
  type InformerOptions,
  type ListWatchSource,
  type WatchEventType,
  type WatchHandle,
} from './informer.ts';

interface Item {
  name: string;
  rv: string;
}

/** A scripted API: each list() and watch() call takes the next step of its script. */
class ScriptedSource implements ListWatchSource<Item> {
  lists = 0;
  watches: string[] = [];
  listResults: (Item[] | Error)[] = [];
  watchScripts: ((emit: (type: WatchEventType, object: unknown) => void) => unknown)[] = [];
  #listVersion = 100;

  list(): Promise<{ items: Item[]; resourceVersion: string }> {
    this.lists += 1;
    const next = this.listResults.shift() ?? [];
    if (next instanceof Error) return Promise.reject(next);
    this.#listVersion += 1;
    return Promise.resolve({ items: next, resourceVersion: String(this.#listVersion) });
  }

  watch(
    resourceVersion: string,
    onEvent: (type: WatchEventType, object: unknown) => void,
  ): Promise<WatchHandle> {
    this.watches.push(resourceVersion);
    const script = this.watchScripts.shift();
    let end: (reason: unknown) => void = () => undefined;
    const done = new Promise<unknown>((resolve) => {
      end = resolve;
    });
    if (script) {
      queueMicrotask(() => {
        end(script(onEvent));
      });
    }
    // No script left: a watch that stays open until aborted.
    return Promise.resolve({
      abort: () => {
        end(new Error('aborted'));
      },
      done,
    });
  }
}

function informer(
  source: ScriptedSource,
  events: string[],
  overrides: Partial<InformerOptions<Item, Item>> = {},
): ResilientInformer<Item, Item> {
  return new ResilientInformer<Item, Item>({
    resource: 'items',
    source,
    transform: (item) => item,
    keyOf: (item) => item.name,
    resourceVersionOf: (item) => item.rv,
    onEvent: (event, item) => events.push(`${event}:${item.name}@${item.rv}`),
    backoffInitialMs: 1,
    backoffMaxMs: 2,
    ...overrides,
  });
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error('condition not reached');
}

describe('ResilientInformer', () => {
  it('is not synced until a LIST succeeds, and keeps retrying a failing LIST', async () => {
    const source = new ScriptedSource();
    source.listResults = [new Error('connection refused'), new Error('503'), [{ name: 'a', rv: '1' }]];
    const events: string[] = [];
    const subject = informer(source, events);
    subject.start();
    expect(subject.hasSynced).toBe(false);
    await subject.synced;
    expect(source.lists).toBe(3);
    expect(events).toEqual(['add:a@1']);
    await subject.stop();
  });

  it('draws each backoff from the injected random source', async () => {
    const source = new ScriptedSource();
    source.listResults = [new Error('connection refused'), new Error('503'), [{ name: 'a', rv: '1' }]];
    let draws = 0;
    const subject = informer(source, [], {
      random: () => {
        draws += 1;
        return 0.5;
      },
    });
    subject.start();
    await subject.synced;
    expect(draws).toBe(2);
    await subject.stop();
  });

  it('resumes the watch from the last seen version after a clean stream end, without relisting', async () => {
    const source = new ScriptedSource();
    source.listResults = [[{ name: 'a', rv: '1' }]];
    source.watchScripts = [
      (emit) => {
        emit('MODIFIED', { name: 'a', rv: '5' });
        return undefined; // the server closed the stream (timeoutSeconds)
      },
      (emit) => {
        emit('BOOKMARK', { name: '', rv: '9' });
        return undefined;
      },
    ];
    const events: string[] = [];
    const subject = informer(source, events);
    subject.start();
    await until(() => source.watches.length >= 3);
    expect(source.watches).toEqual(['101', '5', '9']);
    expect(source.lists).toBe(1);
    expect(events).toEqual(['add:a@1', 'update:a@5']);
    await subject.stop();
  });

  it('relists after 410 Gone and reports objects deleted while it was away', async () => {
    const source = new ScriptedSource();
    source.listResults = [
      [
        { name: 'a', rv: '1' },
        { name: 'b', rv: '2' },
      ],
      [{ name: 'b', rv: '7' }],
    ];
    source.watchScripts = [
      (emit) => {
        emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
        return undefined;
      },
    ];
    const events: string[] = [];
    const relists: string[] = [];
    const subject = new ResilientInformer<Item, Item>({
      resource: 'items',
      source,
      transform: (item) => item,
      keyOf: (item) => item.name,
      resourceVersionOf: (item) => item.rv,
      onEvent: (event, item) => events.push(`${event}:${item.name}@${item.rv}`),
      onRelist: (reason) => relists.push(reason),
      backoffInitialMs: 1,
      backoffMaxMs: 2,
    });
    subject.start();
    await until(() => source.lists === 2 && source.watches.length === 2);
    expect(events).toEqual(['add:a@1', 'add:b@2', 'update:b@7', 'delete:a@1']);
    // The relist is reported, with its cause, so that operators can see compactions in logs and metrics.
    expect(relists).toEqual(['expired']);
    expect(subject.list().map((item) => item.name)).toEqual(['b']);
    await subject.stop();
  });

  it('stops cleanly even when stopped while a watch is connecting', async () => {
    const source = new ScriptedSource();
    source.listResults = [[{ name: 'a', rv: '1' }]];
    const subject = informer(source, []);
    subject.start();
    await subject.synced;
    await subject.stop();
    expect(source.watches.length).toBeLessThanOrEqual(1);
  });

  it('survives watch errors that would stop client-node informers, counting the failures', async () => {
    const source = new ScriptedSource();
    source.listResults = [[{ name: 'a', rv: '1' }]];
    const failures: number[] = [];
    source.watchScripts = [
      () => Object.assign(new Error('Forbidden'), { statusCode: 403 }),
      () => new Error('socket hang up'),
    ];
    const subject = new ResilientInformer<Item, Item>({
      resource: 'items',
      source,
      transform: (item) => item,
      keyOf: (item) => item.name,
      resourceVersionOf: (item) => item.rv,
      onEvent: () => undefined,
      onError: (_error, count) => failures.push(count),
      backoffInitialMs: 1,
      backoffMaxMs: 2,
    });
    subject.start();
    await until(() => source.watches.length >= 3);
    expect(failures).toEqual([1, 2]);
    expect(subject.get('a')).toEqual({ name: 'a', rv: '1' });
    await subject.stop();
  });
});
