// Status and conditions, computed purely from what happened; the reconciler writes them only when
// they differ from what the object already says, so a quiet restart writes nothing.
import type { ApiCredentialStatus, Condition } from '../api/apicredential.ts';
import { formatTime } from '../policy/time.ts';

export type ConditionType = 'Ready' | 'Stalled';

export interface ConditionInput {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** Keeps lastTransitionTime when the status of a condition did not change. */
export function mergeConditions(
  previous: Condition[] | undefined,
  next: ConditionInput[],
  generation: number | undefined,
  now: number,
): Condition[] {
  return next.map((condition) => {
    const before = previous?.find((c) => c.type === condition.type);
    const lastTransitionTime =
      before && before.status === condition.status ? before.lastTransitionTime : formatTime(now, 'seconds');
    return { ...condition, observedGeneration: generation, lastTransitionTime };
  });
}

/** Structural equality of two statuses, ignoring key order and undefined fields. */
export function sameStatus(a: ApiCredentialStatus | undefined, b: ApiCredentialStatus): boolean {
  return canonical(a ?? {}) === canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner && typeof inner === 'object' && !Array.isArray(inner)) {
      return Object.fromEntries(
        Object.entries(inner as Record<string, unknown>)
          .filter(([, v]) => v !== undefined)
          .sort(([x], [y]) => x.localeCompare(y)),
      );
    }
    return inner;
  });
}

/** Whether the status says renewal has stopped until a person acts (Stalled=True). */
export function isStalled(status: ApiCredentialStatus | undefined): boolean {
  return status?.conditions?.find((c) => c.type === 'Stalled')?.status === 'True';
}
