// Watches the benchmark namespace as a bystander (admin client, not the operator's user): when each
// ApiCredential first turns Ready, and every token the operator writes into a consumer Secret. A new
// token's issued-at (the operator's clock when it asked the provider) minus the renewal time the
// operator planned for the token before it is the renewal's lateness; the plan is recomputed with
// the operator's own pure policy from the previous token's annotations, to the millisecond.
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import type { ApiCredential } from '../../src/api/apicredential.ts';
import { ResilientInformer } from '../../src/kube/informer.ts';
import { apiCredentialSource, secretSource } from '../../src/kube/sources.ts';
import { planRenewal } from '../../src/policy/renewal.ts';
import { stableRandom } from '../../src/policy/stable-random.ts';
import {
  ANNOTATION_EXPIRES_AT,
  ANNOTATION_ISSUED_AT,
  ANNOTATION_NEXT_CHECK_AT,
  LABEL_CREDENTIAL,
  parseTime,
} from '../../src/secrets/consumer.ts';

export interface TokenRecord {
  credential: string;
  uid: string;
  issuedAt: number;
  expiresAt: number;
  checkAt?: number;
}

export interface Renewal {
  credential: string;
  /** The operator's clock when it asked the provider for the new token, epoch ms. */
  at: number;
  /** When the operator planned to renew the previous token, epoch ms. */
  planned: number;
  latenessMs: number;
}

export interface TrackerOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The operator's --propagation-margin and jitter, and the credentials' renewBeforePercentage. */
  propagationMarginMs: number;
  jitterFraction: number;
  renewBeforePercentage: number;
}

interface Seen {
  name: string;
  resourceVersion: string;
}

function tokenOf(secret: V1Secret): TokenRecord | undefined {
  const annotations = secret.metadata?.annotations ?? {};
  const credential = secret.metadata?.labels?.[LABEL_CREDENTIAL];
  const uid = secret.metadata?.ownerReferences?.find((ref) => ref.controller)?.uid;
  const issuedAt = parseTime(annotations[ANNOTATION_ISSUED_AT]);
  const expiresAt = parseTime(annotations[ANNOTATION_EXPIRES_AT]);
  if (!credential || !uid || issuedAt === undefined || expiresAt === undefined) return undefined;
  const checkAt = parseTime(annotations[ANNOTATION_NEXT_CHECK_AT]);
  return { credential, uid, issuedAt, expiresAt, ...(checkAt === undefined ? {} : { checkAt }) };
}

export class BenchTracker {
  readonly readyAt = new Map<string, number>();
  readonly renewals: Renewal[] = [];
  /** First tokens written, per credential: operator clock. */
  readonly issuedAt = new Map<string, number>();
  readonly #tokens = new Map<string, TokenRecord>();
  readonly #options: TrackerOptions;
  readonly #credentials: ResilientInformer<ApiCredential, Seen>;
  readonly #secrets: ResilientInformer<V1Secret, Seen>;

  constructor(options: TrackerOptions) {
    this.#options = options;
    const scope = { namespace: options.namespace };
    // Each cache keeps only a name and a version; what matters is seen as objects arrive.
    this.#credentials = new ResilientInformer<ApiCredential, Seen>({
      resource: 'apicredentials',
      source: apiCredentialSource(options.kubeConfig, scope),
      transform: (credential) => {
        const name = credential.metadata.name;
        const ready = credential.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
        if (ready && name && !this.readyAt.has(name)) this.readyAt.set(name, Date.now());
        return { name, resourceVersion: credential.metadata.resourceVersion ?? '' };
      },
      keyOf: (seen) => seen.name,
      resourceVersionOf: (seen) => seen.resourceVersion,
      onEvent: () => undefined,
    });
    this.#secrets = new ResilientInformer<V1Secret, Seen>({
      resource: 'secrets',
      source: secretSource(options.kubeConfig, { ...scope, labelSelector: LABEL_CREDENTIAL }),
      transform: (secret) => {
        const token = tokenOf(secret);
        if (token) this.#observe(token);
        return { name: secret.metadata?.name ?? '', resourceVersion: secret.metadata?.resourceVersion ?? '' };
      },
      keyOf: (seen) => seen.name,
      resourceVersionOf: (seen) => seen.resourceVersion,
      onEvent: () => undefined,
    });
  }

  /** When the operator meant to renew `token`: the reconciler's plan, recomputed. */
  plannedRenewal(token: TokenRecord): number {
    if (token.checkAt !== undefined) return Math.min(token.checkAt, token.expiresAt);
    return planRenewal({
      issuedAt: token.issuedAt,
      expiresAt: token.expiresAt,
      renewBefore: { percentage: this.#options.renewBeforePercentage },
      propagationMarginMs: this.#options.propagationMarginMs,
      jitterFraction: this.#options.jitterFraction,
      random: () => stableRandom(token.uid, token.issuedAt),
    }).renewAt;
  }

  #observe(token: TokenRecord): void {
    const previous = this.#tokens.get(token.credential);
    if (previous && token.issuedAt <= previous.issuedAt) return;
    this.#tokens.set(token.credential, token);
    if (!previous) {
      this.issuedAt.set(token.credential, token.issuedAt);
      return;
    }
    const planned = this.plannedRenewal(previous);
    this.renewals.push({
      credential: token.credential,
      at: token.issuedAt,
      planned,
      latenessMs: token.issuedAt - planned,
    });
  }

  /** Renewals that started at or after `from` (operator clock), per credential. */
  renewalsSince(from: number): Map<string, number> {
    const counts = new Map<string, number>();
    for (const renewal of this.renewals)
      if (renewal.at >= from) counts.set(renewal.credential, (counts.get(renewal.credential) ?? 0) + 1);
    return counts;
  }

  /** The earliest planned renewal among current tokens. */
  nextPlannedRenewal(): number | undefined {
    let next: number | undefined;
    for (const token of this.#tokens.values()) {
      const planned = this.plannedRenewal(token);
      if (next === undefined || planned < next) next = planned;
    }
    return next;
  }

  async start(): Promise<void> {
    this.#credentials.start();
    this.#secrets.start();
    await Promise.all([this.#credentials.synced, this.#secrets.synced]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.#credentials.stop(), this.#secrets.stop()]);
  }
}
