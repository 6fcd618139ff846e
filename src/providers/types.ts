// The contract between the controller and a token provider. A provider is one module implementing
// TokenProvider for one key of spec.provider; the controller does everything Kubernetes-related.
import type { ApiCredentialSpec, ProviderName } from '../api/apicredential.ts';
import type { HttpClient } from '../http/client.ts';
import type { Clock } from '../policy/clock.ts';

/** A value the provider needs from a Secret (or ConfigMap) in the ApiCredential's namespace. */
export interface InputReference {
  kind: 'Secret' | 'ConfigMap';
  name: string;
  key: string;
  /** Where in the spec the reference is, for messages: "spec.provider.oauth2.credentialsRef.clientSecretKey". */
  fieldPath: string;
  /**
   * Whether the value is a credential (client secret, password, private key, token), which is
   * redacted wherever it appears, or not (a client id, user name, CA certificate), which is printed
   * as is: a client id is often the service's own name, and redacting it erases that name from
   * every log line and message. Build references with the helpers in references.ts.
   */
  secret: boolean;
  optional?: boolean;
}

/** Resolved input values, by `${kind}/${name}/${key}`. Never logged. */
export interface Inputs {
  get(ref: InputReference): string | undefined;
  /** The value, or a terminal ProviderError naming the Secret, key and spec field. */
  require(ref: InputReference): string;
}

/** Operator-only state kept in the credential's state Secret (refresh tokens, session ids). */
export interface StateStore {
  /** The stored state (empty when there is none); also fixes the version that write() is conditional on. */
  read(): Promise<Readonly<Record<string, string>>>;
  /**
   * Writes the state, conditional on the version read: if anyone else wrote it since, this throws
   * a StateConflictError and nothing is written. A provider records intent with it before using a
   * single-use token.
   */
  write(state: Record<string, string>): Promise<void>;
}

export interface TokenSet {
  /** Data for the consumer Secret, by final key (the controller adds nothing secret of its own). */
  data: Record<string, string>;
  issuedAt: number;
  expiresAt: number;
  expirySource: 'expires_in' | 'jwt' | 'assumed' | 'human';
  /** Fan-out providers: which tenants are ready; failing ones carry a reason. */
  tenants?: { ready: number; total: number; failing: { tenant: string; reason: string; message: string }[] };
  /**
   * Fan-out providers (Insights Hub): each tenant's token by tenant id, for spec.secret.template's
   * `tenants` variable. The controller renders it; it is never logged.
   */
  perTenant?: Record<string, { token: string; tokenType: string; expiresAt: number }>;
  /** When the provider wants to be called again regardless of expiry (IDMP cloud checks), epoch ms. */
  checkAgainAt?: number;
  /** Human-action warnings (IDMP cloud): become a Warning event and a condition. */
  warnings?: { reason: string; message: string }[];
}

/** A ServiceAccount token minted through the TokenRequest API; `token` is a credential, never logged. */
export interface MintedServiceAccountToken {
  token: string;
  /** epoch ms */
  expiresAt: number;
}

/**
 * Mints a token for a ServiceAccount in the credential's namespace (TokenRequest API), for client
 * authentication by assertion. The minted token is registered for redaction before it is returned.
 * Throws a ProviderError a user can act on (ServiceAccount missing, operator lacks RBAC).
 */
export type ServiceAccountTokenMinter = (request: {
  serviceAccountName: string;
  audience: string;
  expirationSeconds: number;
  /** Where in the spec the ServiceAccount is named, for messages. */
  fieldPath: string;
  signal: AbortSignal;
}) => Promise<MintedServiceAccountToken>;

export interface ProviderContext {
  /** namespace/name of the ApiCredential, for messages. */
  credential: string;
  inputs: Inputs;
  state: StateStore;
  http: HttpClient;
  clock: Clock;
  signal: AbortSignal;
  /** When `signal` aborts (the provider timeout), epoch ms on `clock`: a provider that waits inside a round stays within it. */
  deadline?: number;
  /** The token the consumer Secret holds now, if any: a provider may keep or refresh it. */
  current?: { data: Readonly<Record<string, string>>; issuedAt: number; expiresAt: number };
  /** Where the consumer Secret keys go (spec.secret.keys). */
  keys: ApiCredentialSpec['secret']['keys'];
  /** spec.refresh.assumedLifetime, for tokens that carry no expiry at all. */
  assumedLifetimeMs?: number;
  /** TokenRequest for a ServiceAccount of the credential's namespace (oauth2 service_account_token). */
  mintServiceAccountToken?: ServiceAccountTokenMinter;
}

/**
 * What a provider needs from the controller for one spec. The controller reads only this, so it names
 * no provider and reads no provider-specific spec field. Build it with declareNeeds() (references.ts).
 */
export interface ProviderNeeds {
  /** Every Secret or ConfigMap value the spec references, the CA bundle included: read, watched and hashed. */
  inputs: InputReference[];
  /** The CA bundle to trust for the provider's HTTPS calls (one of `inputs`), when the spec names one. */
  caBundle?: InputReference;
  /** Whether deleting the ApiCredential calls release() (a revoke or logout), so a finalizer is needed. */
  releaseOnDelete: boolean;
  /**
   * The host the provider calls, as its rate limit bucket is keyed: rateLimitKeyOf() of its base or
   * token URL (scheme://host[:port]). Credentials of one host share a bucket; other hosts never wait on it.
   */
  rateLimitKey: string;
}

export interface TokenProvider<Spec> {
  readonly name: ProviderName;
  /** The provider's own references (without the CA bundle); needs() adds the rest. */
  inputs(spec: Spec): InputReference[];
  /** Everything the controller must provide or do for this spec. */
  needs(spec: Spec): ProviderNeeds;
  /**
   * Whether a consumer Secret key this provider writes holds something other than a credential,
   * besides spec.secret.keys.tokenType and expiresAt (which never do): Insights Hub's
   * `expires_at.<tenant>` and tenant list. Every other key's value is redacted wherever it appears.
   */
  isPublicOutput?(key: string): boolean;
  /** Keys of the state Secret whose values are credentials (a refresh token): redacted like inputs. */
  readonly secretStateKeys?: readonly string[];
  /** Obtains a valid token set: a login, a refresh, or (IDMP cloud) a check of human-supplied tokens. */
  obtain(spec: Spec, context: ProviderContext): Promise<TokenSet>;
  /** Revokes or logs out on deletion, where the provider can; bounded by context.signal. */
  release?(spec: Spec, context: ProviderContext): Promise<'released' | 'unsupported'>;
}
