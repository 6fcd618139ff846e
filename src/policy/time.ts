// Times as epoch ms, next to the clock that reads them: how they are printed, and which comes first.

/**
 * How a time is printed. Both are RFC 3339 in UTC:
 * - 'seconds', "2026-12-02T12:00:05Z": what the apiserver stores for metav1.Time and kubectl shows;
 *   status fields, condition transitions, and the messages and logs that quote them;
 * - 'milliseconds', "2026-12-02T12:00:05.123Z" (Date#toISOString): Secret annotations, state and
 *   rollout messages, where the ms tell two writes in one second apart.
 */
export type TimeFormat = 'seconds' | 'milliseconds';

export function formatTime(ms: number, format: TimeFormat): string;
export function formatTime(ms: number | undefined, format: TimeFormat): string | undefined;
export function formatTime(ms: number | undefined, format: TimeFormat): string | undefined {
  if (ms === undefined) return undefined;
  const iso = new Date(ms).toISOString();
  return format === 'seconds' ? iso.replace(/\.\d{3}Z$/, 'Z') : iso;
}

/** The earliest of the times given; undefined when none is. */
export function earliest(...times: (number | undefined)[]): number | undefined {
  const defined = times.filter((time): time is number => time !== undefined);
  return defined.length === 0 ? undefined : Math.min(...defined);
}
