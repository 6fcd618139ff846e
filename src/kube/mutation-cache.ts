// client-go's MutationCache (tools/cache/mutation_cache.go), for the objects this operator writes.
//
// A reconcile writes the consumer Secret, then the status. The watch event of the first write can start
// the next reconcile of the same credential before the event of the second has reached the cache, and
// that reconcile would act on the older copy: see a manual refresh as not yet handled, or a failure
// count already reset, and call the provider a second time (for iDempiere, with a single-use refresh
// token). Reads therefore return what the operator last wrote until the informer has caught up with
// it. Like client-go's integer mutation cache, this compares resourceVersions as integers (what etcd3
// gives); a version that is not an integer is never preferred over the informer's copy.
import type { Clock } from '../policy/clock.ts';

interface Written<T> {
  object: T;
  version: bigint;
  at: number;
}

export interface MutationCacheOptions<T> {
  resourceVersionOf: (object: T) => string | undefined;
  /** How long a written copy may stand in for the informer's, in case its watch event never comes. */
  ttlMs: number;
  clock: Clock;
  /**
   * True when the informer not having the object means it was deleted (an object the operator only
   * updates); false when it may not have been seen yet (an object the operator creates).
   */
  absentIsDeleted: boolean;
}

function integerVersion(version: string | undefined): bigint | undefined {
  return version !== undefined && /^[0-9]{1,30}$/.test(version) ? BigInt(version) : undefined;
}

export class MutationCache<T> {
  readonly #options: MutationCacheOptions<T>;
  readonly #written = new Map<string, Written<T>>();

  constructor(options: MutationCacheOptions<T>) {
    this.#options = options;
  }

  /** Entries held: written copies the informer has not been seen to catch up with yet. */
  get size(): number {
    return this.#written.size;
  }

  /** Records the object a write returned. */
  mutated(key: string, object: T): void {
    const version = integerVersion(this.#options.resourceVersionOf(object));
    if (version === undefined) return;
    const previous = this.#written.get(key);
    if (previous && previous.version >= version) return;
    this.#written.set(key, { object, version, at: this.#options.clock.now() });
  }

  /**
   * The newer of the informer's copy and the written one. Unless absentIsDeleted, a written object
   * the informer has not seen at all is returned too (a Secret just created); the informer's delete
   * event calls forget().
   */
  newest(key: string, cached: T | undefined): T | undefined {
    const written = this.#written.get(key);
    if (written === undefined) return cached;
    const fresh = this.#options.clock.now() - written.at < this.#options.ttlMs;
    if (fresh && cached === undefined && !this.#options.absentIsDeleted) return written.object;
    const cachedVersion =
      cached === undefined ? undefined : integerVersion(this.#options.resourceVersionOf(cached));
    if (fresh && cachedVersion !== undefined && cachedVersion < written.version) return written.object;
    this.#written.delete(key);
    return cached;
  }

  /** The object was deleted: nothing written before stands in for it. */
  forget(key: string): void {
    this.#written.delete(key);
  }
}
