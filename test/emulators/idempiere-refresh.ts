// The REST_RefreshToken table and MRefreshToken's rules: one row per issued (access, refresh) pair,
// linked by ParentToken; reuse of a parent is a breach that revokes the whole chain.

export type RevokeCause = 'Breach' | 'BreachChain' | 'Logout' | 'PasswordChange' | 'ManualExpire';

interface Row {
  id: number;
  token: string;
  refreshToken: string;
  parentToken: string | null;
  clientId: number;
  /** CreatedBy: the AD_User_ID claim of the access token. */
  userId: number;
  orgId: number;
  createdAt: number;
  expiresAt: number | null;
  absoluteExpiresAt: number | null;
  revokedAt: number | null;
  revokeCause: RevokeCause | null;
  active: boolean;
}

/** A row as tests see it: no token values. */
export interface RefreshRowView {
  id: number;
  parentId: number | null;
  clientId: number;
  userId: number;
  createdAt: number;
  expiresAt: number | null;
  absoluteExpiresAt: number | null;
  revokedAt: number | null;
  revokeCause: RevokeCause | null;
}

export interface BreachEvent {
  at: number;
  /** Row of the reused refresh token. */
  rowId: number;
  userId: number;
  clientId: number;
  /** Every row revoked by this breach (the reused one, descendants, ancestors). */
  revokedRowIds: number[];
}

export interface ChainInfo {
  /** First row of the chain (the login). */
  rootId: number;
  /** Newest row: the only refresh token that may still be used. */
  leafId: number;
  userId: number;
  clientId: number;
  /** Rows in the chain: 1 + refreshes so far. */
  length: number;
  expiresAt: number | null;
  absoluteExpiresAt: number | null;
}

export interface NewRow {
  token: string;
  refreshToken: string;
  parentToken: string | null;
  clientId: number;
  userId: number;
  orgId: number;
  expiresAt: number | null;
  /** undefined: inherit from the parent row (a refresh); null: none. */
  absoluteExpiresAt: number | null | undefined;
}

export class RefreshStore {
  #rows: Row[] = [];
  #nextId = 1_000_000;
  #breaches: BreachEvent[] = [];

  insert(row: NewRow, now: number): void {
    const inherited =
      row.absoluteExpiresAt === undefined && row.parentToken !== null
        ? (this.#byRefresh(row.parentToken)?.absoluteExpiresAt ?? null)
        : (row.absoluteExpiresAt ?? null);
    this.#rows.push({
      ...row,
      id: this.#nextId++,
      createdAt: now,
      absoluteExpiresAt: inherited,
      revokedAt: null,
      revokeCause: null,
      active: true,
    });
  }

  /** `MRefreshToken.isParent`: the token was already used for a refresh. */
  isParent(refreshToken: string | undefined): boolean {
    return refreshToken !== undefined && this.#rows.some((row) => row.parentToken === refreshToken);
  }

  /** `getValidForRefresh`: active, not revoked, ExpiresAt and AbsoluteExpiresAt not passed. */
  validForRefresh(
    refreshToken: string,
    now: number,
  ): { clientId: number; userId: number; token: string } | undefined {
    const row = this.#byRefresh(refreshToken);
    return row && this.#usable(row, now)
      ? { clientId: row.clientId, userId: row.userId, token: row.token }
      : undefined;
  }

  /** `isRevoked(authToken)`: its row is revoked or past AbsoluteExpiresAt. */
  isRevoked(token: string, now: number): boolean {
    const row = this.#byToken(token);
    return (
      row !== undefined &&
      (row.revokedAt !== null || (row.absoluteExpiresAt !== null && row.absoluteExpiresAt < now))
    );
  }

  hasToken(token: string): boolean {
    return this.#byToken(token) !== undefined;
  }

  /** `breachDetected`: revoke the reused row, then every descendant and ancestor. */
  breach(refreshToken: string, now: number): BreachEvent | undefined {
    const row = this.#byRefresh(refreshToken);
    if (!row) return undefined;
    this.#revoke(row, now, 'Breach');
    const revoked = [row.id];
    for (const other of [...this.#descendants(row), ...this.#ancestors(row)]) {
      this.#revoke(other, now, 'BreachChain');
      revoked.push(other.id);
    }
    const event = {
      at: now,
      rowId: row.id,
      userId: row.userId,
      clientId: row.clientId,
      revokedRowIds: revoked,
    };
    this.#breaches.push(event);
    return event;
  }

  /** `MRefreshToken.logout`: false when the token has no row (the plugin then fails with a 500). */
  logout(token: string, now: number): boolean {
    const row = this.#byToken(token);
    if (!row) return false;
    this.#revoke(row, now, 'Logout');
    for (const other of [...this.#descendants(row), ...this.#ancestors(row)]) {
      if (other.revokedAt === null) this.#revoke(other, now, 'Logout');
    }
    return true;
  }

  /** `expireTokens`: revoke the still-valid rows matching `where`; returns how many. */
  expire(where: (row: RefreshRowView) => boolean, cause: RevokeCause, now: number): number {
    let count = 0;
    for (const row of this.#rows) {
      const live =
        row.revokedAt === null &&
        (row.expiresAt === null || row.expiresAt >= now) &&
        (row.absoluteExpiresAt === null || row.absoluteExpiresAt >= now);
      if (live && where(this.#view(row))) {
        this.#revoke(row, now, cause);
        count += 1;
      }
    }
    return count;
  }

  breaches(): BreachEvent[] {
    return structuredClone(this.#breaches);
  }

  rows(): RefreshRowView[] {
    return this.#rows.map((row) => this.#view(row));
  }

  /** Chains whose newest refresh token can still be used. */
  activeChains(now: number): ChainInfo[] {
    const chains: ChainInfo[] = [];
    for (const leaf of this.#rows) {
      if (this.#rows.some((row) => row.parentToken === leaf.refreshToken) || !this.#usable(leaf, now))
        continue;
      const ancestors = this.#ancestors(leaf);
      chains.push({
        rootId: ancestors.at(-1)?.id ?? leaf.id,
        leafId: leaf.id,
        userId: leaf.userId,
        clientId: leaf.clientId,
        length: ancestors.length + 1,
        expiresAt: leaf.expiresAt,
        absoluteExpiresAt: leaf.absoluteExpiresAt,
      });
    }
    return chains;
  }

  #usable(row: Row, now: number): boolean {
    return (
      row.active &&
      row.revokedAt === null &&
      (row.expiresAt === null || row.expiresAt >= now) &&
      (row.absoluteExpiresAt === null || row.absoluteExpiresAt >= now)
    );
  }

  #byRefresh(refreshToken: string): Row | undefined {
    return this.#rows.find((row) => row.refreshToken === refreshToken);
  }

  #byToken(token: string): Row | undefined {
    return this.#rows.find((row) => row.token === token);
  }

  #descendants(row: Row): Row[] {
    const out: Row[] = [];
    let child = this.#rows.find((r) => r.parentToken === row.refreshToken);
    while (child) {
      out.push(child);
      const current: Row = child;
      child = this.#rows.find((r) => r.parentToken === current.refreshToken);
    }
    return out;
  }

  #ancestors(row: Row): Row[] {
    const out: Row[] = [];
    let parent = row.parentToken === null ? undefined : this.#byRefresh(row.parentToken);
    while (parent) {
      out.push(parent);
      parent = parent.parentToken === null ? undefined : this.#byRefresh(parent.parentToken);
    }
    return out;
  }

  #revoke(row: Row, now: number, cause: RevokeCause): void {
    row.revokedAt = now;
    row.revokeCause = cause;
    row.active = false;
  }

  #view(row: Row): RefreshRowView {
    const parent = row.parentToken === null ? undefined : this.#byRefresh(row.parentToken);
    return {
      id: row.id,
      parentId: parent?.id ?? null,
      clientId: row.clientId,
      userId: row.userId,
      createdAt: row.createdAt,
      expiresAt: row.expiresAt,
      absoluteExpiresAt: row.absoluteExpiresAt,
      revokedAt: row.revokedAt,
      revokeCause: row.revokeCause,
    };
  }
}
