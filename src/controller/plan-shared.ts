// What every part of the plan shares: its inputs besides the observation, and the status write.
import type { ApiCredential, ApiCredentialStatus } from '../api/apicredential.ts';
import { parseTime } from '../secrets/consumer.ts';
import type { WrittenToken } from './context.ts';
import type { RenewalOptions } from './observe.ts';
import { sameStatus } from './status.ts';
import type { Write } from './writer.ts';

export interface PlanEnv {
  now: number;
  /** For backoff jitter. */
  random: () => number;
  /** The token the operator last wrote for this credential, if it remembers one. */
  remembered: WrittenToken | undefined;
  options: RenewalOptions;
}

/** Only a status that differs is written, so a quiet restart writes nothing. */
export function statusWrites(credential: ApiCredential, status: ApiCredentialStatus): Write[] {
  return sameStatus(credential.status, status) ? [] : [{ kind: 'status', status }];
}

/** Wakes up when the current token expires so that Ready turns False on time. */
export function expiryRequeue(
  credential: ApiCredential,
  now: number,
  expiresAt?: number,
): number | undefined {
  const until = expiresAt ?? parseTime(credential.status?.expiresAt);
  return until !== undefined && until > now ? until : undefined;
}
