// plan, while the device grant waits for a person to approve: say where (status, and a Warning Event
// for each new code), and poll again when the server allows. Not a failure: no backoff, no failure count.
import { keyOf } from '../kube/object-key.ts';
import { earliest, formatTime } from '../policy/time.ts';
import { awaitingStatus } from './conditions.ts';
import type { ReconcileContext } from './context.ts';
import type { PendingApproval } from './exchange.ts';
import { expiryRequeue, statusWrites } from './plan-shared.ts';
import type { Plan, Write } from './writer.ts';

export function planAwaiting(context: ReconcileContext, approval: PendingApproval, now: number): Plan {
  const { credential, selected, hash, expiresAt } = context;
  const tokenValidUntil = expiresAt !== undefined && expiresAt > now ? expiresAt : undefined;
  const status = awaitingStatus(
    credential,
    selected.name,
    { ...approval, inputsHash: hash, tokenValidUntil },
    now,
  );
  // One Event per code: a poll that finds the same code pending is not news.
  const newCode = credential.status?.userApproval?.userCode !== approval.request.userCode;
  const fields = { credential: keyOf(credential), provider: selected.name, reason: approval.reason };
  const writes: Write[] = [
    ...statusWrites(credential, status),
    newCode
      ? { kind: 'log', level: 'info', fields, message: approval.message }
      : {
          kind: 'log',
          level: 'debug',
          fields: { ...fields, pollAt: formatTime(approval.pollAt, 'seconds') },
          message: 'still awaiting user approval',
        },
    ...(newCode
      ? [
          {
            kind: 'event',
            type: 'Warning',
            reason: approval.reason,
            message: approval.message,
          } satisfies Write,
        ]
      : []),
    {
      kind: 'token-metrics',
      provider: selected.name,
      expiresAt,
      ready: tokenValidUntil !== undefined,
      failures: 0,
      stalled: false,
    },
  ];
  return {
    writes,
    requeueAt: earliest(approval.pollAt, expiryRequeue(credential, now, tokenValidUntil)),
    rolloutPending: context.rolloutPending,
  };
}
