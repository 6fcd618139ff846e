// When to renew a token, from its lifetime on our clock. Pure: randomness comes in as a function.
//
// 1. Target: when `renewBefore` of the lifetime remains (default: a third, percentage 33).
// 2. Never later than `expiresAt - propagationMarginMs`: kubelet takes 60-90 s to update a mounted
//    Secret, and a pod reading the file must never see an expired token. The default margin of
//    2 minutes covers 90 s with 30 s to spare for the write and the application's own re-read.
// 3. Never sooner than half-way through the lifetime because of the margin: a token that lives
//    less than twice the margin is renewed at half-life instead. Without this floor a lifetime just
//    above the margin would be renewed moments after issue, a renewal storm (and a lifetime below
//    the margin could not honour it at all). `marginHonoured: false` and `note` say so.
// 4. Jitter spreads renewals of many credentials apart. It only ever moves renewal EARLIER, by up
//    to `jitterFraction` of the time between issue and the target, so it never breaks rules 1-2
//    and never lands before issue.
import { formatDuration } from './duration.ts';

export type RenewBefore = { percentage: number } | { durationMs: number };

/** Renew when one third of the lifetime remains. */
export const DEFAULT_RENEW_BEFORE: RenewBefore = { percentage: 33 };
/** kubelet's 60-90 s Secret volume update, plus 30 s for the write and the application's re-read. */
export const DEFAULT_PROPAGATION_MARGIN_MS = 2 * 60_000;
export const DEFAULT_JITTER_FRACTION = 0.1;
/** Node's setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days). */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
// A renewBefore duration may use at most this share of the lifetime: the same bound as the CRD's
// largest renewBeforePercentage (90), so that renewal never comes right after issue.
const MAX_LEAD_SHARE = 0.9;

export interface RenewalInput {
  /** Our clock, epoch ms (Expiry.issuedAt). */
  issuedAt: number;
  expiresAt: number;
  renewBefore?: RenewBefore;
  propagationMarginMs?: number;
  /** In [0, 1): how far renewal may be moved earlier, as a share of the time from issue to target. */
  jitterFraction?: number;
  /** Uniform in [0, 1); inject a seeded or stable one to make plans reproducible. */
  random: () => number;
}

export interface RenewalPlan {
  /** When to renew, epoch ms (jitter applied). */
  renewAt: number;
  /** The latest renewal that still gives kubelet the propagation margin (or half-life, see note). */
  latestSafeRenewAt: number;
  /** False when the lifetime is too short for the margin and half-life was used. */
  marginHonoured: boolean;
  /** Why the plan departs from the policy as written; safe to show to users. */
  note?: string;
}

export function planRenewal(input: RenewalInput): RenewalPlan {
  const { issuedAt, expiresAt, random } = input;
  const renewBefore = input.renewBefore ?? DEFAULT_RENEW_BEFORE;
  const marginMs = input.propagationMarginMs ?? DEFAULT_PROPAGATION_MARGIN_MS;
  const jitterFraction = input.jitterFraction ?? DEFAULT_JITTER_FRACTION;
  validate(issuedAt, expiresAt, renewBefore, marginMs, jitterFraction);

  const lifetimeMs = expiresAt - issuedAt;
  if (lifetimeMs <= 0) {
    const now = Math.min(issuedAt, expiresAt);
    return {
      renewAt: now,
      latestSafeRenewAt: now,
      marginHonoured: false,
      note: 'the token has no lifetime left: renew now.',
    };
  }

  const notes: string[] = [];
  let leadMs =
    'percentage' in renewBefore ? (lifetimeMs * renewBefore.percentage) / 100 : renewBefore.durationMs;
  if (leadMs > lifetimeMs * MAX_LEAD_SHARE) {
    leadMs = lifetimeMs * MAX_LEAD_SHARE;
    notes.push(
      `renewBefore is longer than 90% of the token's lifetime (${formatDuration(lifetimeMs)}): renewing after 10% of it.`,
    );
  }

  const halfLife = issuedAt + lifetimeMs / 2;
  const marginHonoured = expiresAt - marginMs >= halfLife;
  const latestSafe = marginHonoured ? expiresAt - marginMs : halfLife;
  if (!marginHonoured) {
    notes.push(
      `the token lives ${formatDuration(lifetimeMs)}, less than twice the ${formatDuration(marginMs)} propagation margin: ` +
        'renewing at half-life, so a pod reading a mounted Secret may briefly see an expired token.',
    );
  }

  const target = Math.min(expiresAt - leadMs, latestSafe);
  const jitterMs = unit(random()) * jitterFraction * (target - issuedAt);
  const plan: RenewalPlan = {
    renewAt: Math.floor(target - jitterMs),
    latestSafeRenewAt: Math.floor(latestSafe),
    marginHonoured,
  };
  if (notes.length > 0) plan.note = notes.join(' ');
  return plan;
}

function validate(
  issuedAt: number,
  expiresAt: number,
  renewBefore: RenewBefore,
  marginMs: number,
  jitterFraction: number,
): void {
  if (!Number.isFinite(issuedAt) || !Number.isFinite(expiresAt)) {
    throw new RangeError(`planRenewal: issuedAt ${issuedAt} and expiresAt ${expiresAt} must be finite`);
  }
  if ('percentage' in renewBefore) {
    const { percentage } = renewBefore;
    if (!(percentage > 0 && percentage < 100)) {
      throw new RangeError(`planRenewal: renewBefore percentage ${percentage} must be between 0 and 100`);
    }
  } else if (!(renewBefore.durationMs >= 0 && Number.isFinite(renewBefore.durationMs))) {
    throw new RangeError(
      `planRenewal: renewBefore durationMs ${renewBefore.durationMs} must be a finite, non-negative number`,
    );
  }
  if (!(marginMs >= 0 && Number.isFinite(marginMs))) {
    throw new RangeError(
      `planRenewal: propagationMarginMs ${marginMs} must be a finite, non-negative number`,
    );
  }
  if (!(jitterFraction >= 0 && jitterFraction < 1)) {
    throw new RangeError(`planRenewal: jitterFraction ${jitterFraction} must be in [0, 1)`);
  }
}

/** Keeps a misbehaving random source inside [0, 1). */
function unit(value: number): number {
  return value >= 0 && value < 1 ? value : value >= 1 ? 1 - Number.EPSILON : 0;
}
