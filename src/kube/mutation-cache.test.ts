import { describe, expect, it } from 'vitest';
import { ManualClock } from '../policy/clock.ts';
import { MutationCache } from './mutation-cache.ts';

interface Obj {
  rv: string;
  note: string;
}

function cache(absentIsDeleted: boolean) {
  const clock = new ManualClock();
  const mutations = new MutationCache<Obj>({
    resourceVersionOf: (o) => o.rv,
    ttlMs: 30_000,
    clock,
    absentIsDeleted,
  });
  return { clock, mutations };
}

describe('MutationCache', () => {
  it('returns the written copy while the informer still holds an older version', () => {
    const { mutations } = cache(true);
    mutations.mutated('ns/a', { rv: '12', note: 'written' });
    expect(mutations.newest('ns/a', { rv: '9', note: 'informer' })?.note).toBe('written');
    expect(mutations.size).toBe(1);
  });

  it('lets go of the written copy once the informer has it or anything newer', () => {
    const { mutations } = cache(true);
    mutations.mutated('ns/a', { rv: '12', note: 'written' });
    expect(mutations.newest('ns/a', { rv: '12', note: 'informer' })?.note).toBe('informer');
    expect(mutations.size).toBe(0);
    mutations.mutated('ns/a', { rv: '20', note: 'written' });
    expect(mutations.newest('ns/a', { rv: '31', note: 'someone else' })?.note).toBe('someone else');
    // Compared as integers, not as text ('100' < '99' as strings).
    mutations.mutated('ns/a', { rv: '99', note: 'written' });
    expect(mutations.newest('ns/a', { rv: '100', note: 'informer' })?.note).toBe('informer');
  });

  it('keeps the newest of two writes', () => {
    const { mutations } = cache(true);
    mutations.mutated('ns/a', { rv: '15', note: 'second' });
    mutations.mutated('ns/a', { rv: '14', note: 'first, answered late' });
    expect(mutations.newest('ns/a', { rv: '9', note: 'informer' })?.note).toBe('second');
  });

  it('falls back to the informer after the TTL, in case the watch event never comes', () => {
    const { mutations, clock } = cache(true);
    mutations.mutated('ns/a', { rv: '12', note: 'written' });
    clock.advance(30_000);
    expect(mutations.newest('ns/a', { rv: '9', note: 'informer' })?.note).toBe('informer');
    expect(mutations.size).toBe(0);
  });

  it('never prefers a resourceVersion that is not an integer', () => {
    const { mutations } = cache(false);
    mutations.mutated('ns/a', { rv: 'abc', note: 'written' });
    expect(mutations.size).toBe(0);
    mutations.mutated('ns/b', { rv: '12', note: 'written' });
    expect(mutations.newest('ns/b', { rv: 'opaque', note: 'informer' })?.note).toBe('informer');
  });

  it('an updated-only object the informer lost is deleted; a created one may not be seen yet', () => {
    const updated = cache(true).mutations;
    updated.mutated('ns/a', { rv: '12', note: 'written' });
    expect(updated.newest('ns/a', undefined)).toBeUndefined();
    expect(updated.size).toBe(0);

    const created = cache(false);
    created.mutations.mutated('ns/a', { rv: '12', note: 'written' });
    expect(created.mutations.newest('ns/a', undefined)?.note).toBe('written');
    created.mutations.forget('ns/a');
    expect(created.mutations.newest('ns/a', undefined)).toBeUndefined();
    created.mutations.mutated('ns/b', { rv: '12', note: 'written' });
    created.clock.advance(30_000);
    expect(created.mutations.newest('ns/b', undefined)).toBeUndefined();
  });
});
