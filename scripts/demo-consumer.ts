// The demo's consumer pod: on the local node, a pod mounts the orders credential's Secret as the README
// shows and prints the `expires_at` key each time kubelet updates the file (the file-reader image, so the
// token itself is never printed). The demo turns its log into one line of the live view, and the end of
// a --duration run fails if the pod ever held a token past its expiry.
import { nodeImages } from '../test/node/paths.ts';

export const CONSUMER_POD = 'orders-reader';
export const CONSUMER_CONTAINER = 'reader';
export const CONSUMER_SECRET = 'orders-token';

export function consumerPod(namespace: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: CONSUMER_POD, namespace, labels: { app: CONSUMER_POD } },
    spec: {
      containers: [
        {
          name: CONSUMER_CONTAINER,
          image: nodeImages.fileReader.ref,
          imagePullPolicy: 'Never',
          args: ['/var/run/secrets/orders/expires_at'],
          volumeMounts: [{ name: 'orders-token', mountPath: '/var/run/secrets/orders', readOnly: true }],
        },
      ],
      volumes: [{ name: 'orders-token', secret: { secretName: CONSUMER_SECRET } }],
    },
  };
}

/** One change of the mounted file the pod saw: when, and the token's expiry it then held. */
export interface ConsumerRead {
  atMs: number;
  expiresAtMs: number;
}

/** The pod's reads from its CRI log (`<time> stdout F <unix ms> <expires_at>`), oldest first. */
export function parseConsumerLog(log: string): ConsumerRead[] {
  const reads: ConsumerRead[] = [];
  for (const line of log.split('\n')) {
    const match = / stdout F (\d+) (\S+)$/.exec(line);
    const expiresAtMs = Date.parse(match?.[2] ?? '');
    if (match?.[1] && Number.isFinite(expiresAtMs)) reads.push({ atMs: Number(match[1]), expiresAtMs });
  }
  return reads;
}

export interface ConsumerVerdict {
  /** What the pod holds now, or undefined before its first read. */
  current?: ConsumerRead & { validForMs: number };
  /** Each stretch in which the pod held a token past its expiry: from the expiry to the next file change. */
  expiredSpans: { fromMs: number; toMs: number }[];
}

/** The pod holds each read's token until the next read; it held an expired one if that ran past the expiry. */
export function consumerVerdict(reads: readonly ConsumerRead[], nowMs: number): ConsumerVerdict {
  const expiredSpans: ConsumerVerdict['expiredSpans'] = [];
  reads.forEach((read, index) => {
    const heldUntil = reads[index + 1]?.atMs ?? nowMs;
    if (heldUntil > read.expiresAtMs) expiredSpans.push({ fromMs: read.expiresAtMs, toMs: heldUntil });
  });
  const last = reads[reads.length - 1];
  return {
    ...(last ? { current: { ...last, validForMs: last.expiresAtMs - nowMs } } : {}),
    expiredSpans,
  };
}

const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 19);

/** The live view's line about the pod. */
export function consumerLine(verdict: ConsumerVerdict, formatDuration: (ms: number) => string): string {
  const prefix = `consumer pod ${CONSUMER_POD} (mounts ${CONSUMER_SECRET})`;
  const { current, expiredSpans } = verdict;
  if (!current) return `${prefix}: has not read the token yet`;
  const state =
    current.validForMs > 0
      ? `valid, ${formatDuration(current.validForMs)} left`
      : `EXPIRED ${formatDuration(-current.validForMs)} ago`;
  const history =
    expiredSpans.length === 0
      ? 'never held an expired token'
      : `held an expired token ${String(expiredSpans.length)} time(s)`;
  return `${prefix}: since ${clock(current.atMs)} holds the token expiring ${clock(current.expiresAtMs)}: ${state}; ${history}`;
}

/** The --duration verdict's problems with the pod: [] when it read a token and never held an expired one. */
export function consumerProblems(verdict: ConsumerVerdict): string[] {
  if (!verdict.current) return [`${CONSUMER_POD}: the pod never read ${CONSUMER_SECRET}`];
  return verdict.expiredSpans.map(
    (span) =>
      `${CONSUMER_POD}: held a token from ${clock(span.fromMs)} to ${clock(span.toMs)} after it expired`,
  );
}
