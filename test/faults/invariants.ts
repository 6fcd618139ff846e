// The fault suite's invariants, checked throughout a run: every consumer Secret, polled while faults
// are injected, holds a token the provider issued and that has not expired, and never loses a key.
import { compactVerify, createLocalJWKSet, decodeJwt } from 'jose';
import { setTimeout as sleep } from 'node:timers/promises';
import { IDEMPIERE_ISSUER } from '../emulators/idempiere-jwt.ts';
import type { TapdataEmulator } from '../emulators/tapdata.ts';
import type { TestKube } from '../harness/kube.ts';

/** Whether the provider issued this token (its signature verifies with the provider's key). */
export type TokenJudge = (token: string) => Promise<boolean>;

export function tapdataJudge(tapdata: TapdataEmulator): TokenJudge {
  const keys = createLocalJWKSet(tapdata.jwks());
  return async (token) => {
    try {
      // Only who signed it; expiry is judged per observation by the monitor.
      await compactVerify(token, keys);
      return true;
    } catch {
      return false;
    }
  };
}

/** iDempiere signs with HS512 over REST_TOKEN_SECRET; the test chooses that secret. */
export function idempiereJudge(secret: string): TokenJudge {
  const key = new TextEncoder().encode(secret);
  return async (token) => {
    try {
      await compactVerify(token, key);
      return decodeJwt(token).iss === IDEMPIERE_ISSUER;
    } catch {
      return false;
    }
  };
}

export interface WatchedSecret {
  namespace: string;
  name: string;
  judge: TokenJudge;
  /** Keys the Secret must keep once it has them. */
  keys: string[];
}

interface State {
  target: WatchedSecret;
  seen: boolean;
  token: string | undefined;
  /** Tokens already judged, and the verdict. */
  verdicts: Map<string, boolean>;
  /** An expired token is tolerated from this instant (a provider outage longer than its lifetime). */
  expiredAllowed: boolean;
}

export interface MonitorReport {
  observations: number;
  distinctTokens: number;
  unreachable: number;
  violations: string[];
}

/** Polls consumer Secrets and records every breach of the invariants; assert on report().violations. */
export class ConsumerMonitor {
  readonly #kube: TestKube;
  readonly #intervalMs: number;
  readonly #states = new Map<string, State>();
  readonly #violations: string[] = [];
  #observations = 0;
  #unreachable = 0;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(kube: TestKube, options: { intervalMs?: number } = {}) {
    this.#kube = kube;
    this.#intervalMs = options.intervalMs ?? 200;
  }

  watch(target: WatchedSecret): void {
    this.#states.set(`${target.namespace}/${target.name}`, {
      target,
      seen: false,
      token: undefined,
      verdicts: new Map(),
      expiredAllowed: false,
    });
  }

  /** During an outage longer than the token's lifetime the old token may outlive its expiry. */
  allowExpired(namespace: string, name: string, allowed: boolean): void {
    const state = this.#states.get(`${namespace}/${name}`);
    if (state) state.expiredAllowed = allowed;
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  async stop(): Promise<MonitorReport> {
    this.#stopped = true;
    await this.#running;
    return this.report();
  }

  report(): MonitorReport {
    const tokens = new Set<string>();
    for (const state of this.#states.values()) for (const token of state.verdicts.keys()) tokens.add(token);
    return {
      observations: this.#observations,
      distinctTokens: tokens.size,
      unreachable: this.#unreachable,
      violations: [...this.#violations],
    };
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      await Promise.all([...this.#states.values()].map((state) => this.#observe(state)));
      await sleep(this.#intervalMs);
    }
  }

  async #observe(state: State): Promise<void> {
    const { namespace, name, keys, judge } = state.target;
    const where = `${namespace}/${name}`;
    const readAt = Date.now();
    let values: Record<string, string> | undefined;
    try {
      values = await this.#kube.secretValues(namespace, name);
    } catch {
      this.#unreachable += 1; // the apiserver is down or cut off: nothing observable
      return;
    }
    this.#observations += 1;
    if (!values) {
      if (state.seen) this.#violation(`${where}: the consumer Secret disappeared`);
      return;
    }
    const token = values.token;
    if (!state.seen && token === undefined) return;
    state.seen = true;
    const missing = keys.filter((key) => values[key] === undefined || values[key] === '');
    if (missing.length > 0) this.#violation(`${where}: keys ${missing.join(', ')} missing`);
    if (token === undefined) return;
    if (!state.verdicts.has(token)) state.verdicts.set(token, await judge(token));
    if (state.verdicts.get(token) !== true)
      this.#violation(`${where}: holds a token the provider did not issue`);
    const exp = expiryOf(token);
    if (exp === undefined) this.#violation(`${where}: token without exp`);
    else if (exp <= readAt && !state.expiredAllowed)
      this.#violation(
        `${where}: held a token past its expiry (${new Date(exp).toISOString()}, seen ${String(readAt - exp)} ms later)`,
      );
    state.token = token;
  }

  #violation(message: string): void {
    // The first few are enough to diagnose; thousands of polls must not flood the report.
    if (this.#violations.length < 50) this.#violations.push(message);
  }
}

/** The JWT's exp in epoch ms, or undefined when it has none. */
export function expiryOf(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
