// A "random" number that is the same every time for the same inputs: renewal jitter seeded by the
// credential and its token, so a restarted operator (or a benchmark) computes the same renewal time.
import { createHash } from 'node:crypto';

/** Uniform in [0, 1), a pure function of `parts`. */
export function stableRandom(...parts: (string | number)[]): number {
  const digest = createHash('sha256').update(parts.join('\0')).digest();
  return digest.readUInt32BE(0) / 0x1_0000_0000;
}
