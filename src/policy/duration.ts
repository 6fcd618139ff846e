// Durations as users write them in specs and flags ("90s", "5m", "1h30m", "1.5h", "300ms"), in the
// subset of Go's time.ParseDuration that the CRD's pattern admits, so a value that passed API
// validation always parses here. Results are whole milliseconds.

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const UNITS_HINT = 'use h, m, s or ms, for example 90s, 5m, 1h30m or 1.5h';
// One "<number><unit>" component; the unit is matched loosely so a wrong one can be named.
const COMPONENT = /(\d+(?:\.\d+)?)([a-zA-Zµμ]*)/y;

/** A duration that cannot be parsed; the message names the value and what is wrong with it. */
export class DurationError extends Error {
  readonly value: string;
  constructor(value: string, problem: string) {
    super(`invalid duration ${JSON.stringify(value)}: ${problem}`);
    this.name = 'DurationError';
    this.value = value;
  }
}

/** Parses "1h30m" and friends into milliseconds; throws DurationError for anything else. */
export function parseDuration(text: string): number {
  if (text === '') throw new DurationError(text, `it is empty; ${UNITS_HINT}`);
  if (text.trim() !== text) throw new DurationError(text, 'remove the surrounding spaces');
  if (text.startsWith('-')) throw new DurationError(text, 'a duration cannot be negative');
  if (text.startsWith('+')) throw new DurationError(text, 'write it without a sign');
  if (text === '0') return 0;

  let totalMs = 0;
  let position = 0;
  while (position < text.length) {
    COMPONENT.lastIndex = position;
    const match = COMPONENT.exec(text);
    if (!match)
      throw new DurationError(text, `expected a number at "${text.slice(position)}"; ${UNITS_HINT}`);
    const [whole, amount = '', unit = ''] = match;
    totalMs += Number(amount) * unitMs(text, unit);
    position += whole.length;
  }
  const rounded = Math.round(totalMs);
  if (!Number.isSafeInteger(rounded)) throw new DurationError(text, 'it is too large');
  return rounded;
}

function unitMs(text: string, unit: string): number {
  if (unit === '') throw new DurationError(text, `a unit is missing; ${UNITS_HINT}`);
  const ms = UNIT_MS[unit];
  if (ms !== undefined) return ms;
  if (unit === 'd') throw new DurationError(text, 'days are not a unit; write 24h for one day');
  throw new DurationError(text, `unknown unit "${unit}"; ${UNITS_HINT}`);
}

/**
 * A short human form for messages: "300ms", "1.5s", "4m30s", "2h", "336h". Whole seconds from
 * one minute up; the output is always accepted by parseDuration (apart from a leading "-").
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms))
    throw new RangeError(`formatDuration: ${ms} is not a finite number of milliseconds`);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  const wholeMs = Math.round(ms);
  if (wholeMs < 1000) return `${wholeMs}ms`;
  if (wholeMs < 60_000) return `${wholeMs / 1000}s`;
  const totalSeconds = Math.round(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const parts = [
    hours > 0 ? `${hours}h` : '',
    minutes > 0 ? `${minutes}m` : '',
    seconds > 0 ? `${seconds}s` : '',
  ];
  return parts.join('');
}
