// The bundle's crash points (scripts/build.ts swaps this in for crash-points.ts): no environment
// variable is read, and esbuild drops every call to the empty function.
import type { CrashPoint } from './crash-points.ts';

export type { CrashPoint };

export function crashPoint(_point: CrashPoint): void {}
