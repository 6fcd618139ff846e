// A GardenWorld-like iDempiere data model and the lookups core `Login` and the REST plugin run on it
// (clients, Web Service roles, org access, warehouses, users).

export interface IdClient {
  id: number;
  /** AD_Client.Value: one-step login accepts it in place of the id. */
  value: string;
  name: string;
  language: string;
  menuTreeId: number;
  active?: boolean;
}

export interface IdOrg {
  id: number;
  clientId: number;
  value: string;
  name: string;
  /** MOrgInfo.M_Warehouse_ID, 0 when none. */
  warehouseId: number;
  active?: boolean;
}

export interface IdWarehouse {
  id: number;
  clientId: number;
  orgId: number;
  value: string;
  name: string;
  active?: boolean;
}

export interface IdRole {
  id: number;
  clientId: number;
  name: string;
  /** `WS` (Web Service), null (empty) or a UI type such as `ZK`, which REST login refuses. */
  roleType: string | null;
  /** AD_Role_OrgAccess rows. */
  orgAccess: number[];
  /** Take org access from the user (AD_User_OrgAccess) instead. */
  useUserOrgAccess?: boolean;
  menuTreeId?: number;
  active?: boolean;
}

export interface IdUser {
  id: number;
  name: string;
  password: string;
  roleIds: number[];
  /** AD_User_OrgAccess rows, for roles with useUserOrgAccess. */
  orgAccess?: number[];
  /** Preference language; the client's language otherwise. */
  language?: string;
  active?: boolean;
  locked?: boolean;
  /** What `Login.validateLogin` answers for this user (a model validator's veto), if anything. */
  loginError?: string;
}

export interface IdBPartner {
  id: number;
  clientId: number;
  value: string;
  name: string;
}

export interface IdempiereData {
  clients: IdClient[];
  orgs: IdOrg[];
  warehouses: IdWarehouse[];
  roles: IdRole[];
  users: IdUser[];
  bpartners: IdBPartner[];
  /** Env.getLoginLanguages(): a `language` parameter outside this list is ignored. */
  loginLanguages: string[];
}

/** Users for each login path of the seeded model. */
export const GARDENWORLD_LOGINS = {
  /** Two clients (GardenWorld, Sunrise), several roles: the full multi-step flow. */
  multiStep: { userName: 'GardenAdmin', password: 'GardenAdmin', userId: 101 },
  /** One client, one WS role, one org: step 1 returns a full session ("abbreviated login"). */
  abbreviated: { userName: 'WebService', password: 'WebService', userId: 1000002 },
  /** One client and one role, but that role reaches two orgs: normal step 1. */
  singleRoleTwoOrgs: { userName: 'GardenUser', password: 'GardenUser', userId: 1000003 },
  /** Only a UI role (type ZK): REST login fails. */
  uiOnly: { userName: 'UIOnly', password: 'UIOnly', userId: 1000005 },
} as const;

/** Well-known ids of the seeded model. */
export const GW = {
  client: 11,
  sunrise: 1000000,
  adminRole: 102,
  userRole: 103,
  webServiceRole: 50004,
  uiRole: 50005,
  /** Two WS roles share the name 'Store Role': "Role name not unique". */
  storeRoles: [50010, 50011],
  sunriseRole: 1000001,
  hq: 11,
  storeCentral: 12,
  fertilizer: 50000,
  furniture: 50001,
  /** Two orgs named 'Store' (values 'Store East', 'Store West'): "Organization name not unique". */
  storeOrgs: [50004, 50005],
  sunriseHq: 1000000,
  hqWarehouse: 103,
  hqTransit: 50002,
  storeCentralWarehouse: 104,
  sunriseWarehouse: 1000000,
  menuTree: 10,
} as const;

export function gardenWorld(): IdempiereData {
  return {
    clients: [
      { id: 11, value: 'GardenWorld', name: 'GardenWorld', language: 'en_US', menuTreeId: 10 },
      { id: 1000000, value: 'Sunrise', name: 'Sunrise Corp', language: 'es_CO', menuTreeId: 1000010 },
    ],
    orgs: [
      { id: 0, clientId: 0, value: '0', name: '*', warehouseId: 0 },
      { id: 11, clientId: 11, value: 'HQ', name: 'HQ', warehouseId: 103 },
      { id: 12, clientId: 11, value: 'Store Central', name: 'Store Central', warehouseId: 104 },
      { id: 50000, clientId: 11, value: 'Fertilizer', name: 'Fertilizer', warehouseId: 0 },
      { id: 50001, clientId: 11, value: 'Furniture', name: 'Furniture', warehouseId: 0 },
      { id: 50004, clientId: 11, value: 'Store East', name: 'Store', warehouseId: 0 },
      { id: 50005, clientId: 11, value: 'Store West', name: 'Store', warehouseId: 0 },
      { id: 1000000, clientId: 1000000, value: 'SunHQ', name: 'Sunrise HQ', warehouseId: 1000000 },
    ],
    warehouses: [
      { id: 103, clientId: 11, orgId: 11, value: 'HQ', name: 'HQ Warehouse' },
      { id: 50002, clientId: 11, orgId: 11, value: 'Transit', name: 'HQ Transit' },
      { id: 104, clientId: 11, orgId: 12, value: 'Store Central', name: 'Store Central' },
      { id: 1000000, clientId: 1000000, orgId: 1000000, value: 'SunMain', name: 'Sunrise Main' },
    ],
    roles: [
      {
        id: 102,
        clientId: 11,
        name: 'GardenWorld Admin',
        roleType: null,
        orgAccess: [0, 11, 12, 50000, 50001, 50004, 50005],
      },
      { id: 103, clientId: 11, name: 'GardenWorld User', roleType: null, orgAccess: [11, 12] },
      { id: 50004, clientId: 11, name: 'Web Service', roleType: 'WS', orgAccess: [11] },
      { id: 50005, clientId: 11, name: 'GardenWorld UI', roleType: 'ZK', orgAccess: [11] },
      { id: 50010, clientId: 11, name: 'Store Role', roleType: 'WS', orgAccess: [12] },
      { id: 50011, clientId: 11, name: 'Store Role', roleType: 'WS', orgAccess: [12] },
      {
        id: 1000001,
        clientId: 1000000,
        name: 'Sunrise Admin',
        roleType: null,
        orgAccess: [1000000],
        menuTreeId: 1000011,
      },
    ],
    users: [
      {
        id: 101,
        name: 'GardenAdmin',
        password: 'GardenAdmin',
        roleIds: [102, 103, 50005, 50010, 50011, 1000001],
      },
      { id: 1000002, name: 'WebService', password: 'WebService', roleIds: [50004] },
      { id: 1000003, name: 'GardenUser', password: 'GardenUser', roleIds: [103], language: 'de_DE' },
      { id: 1000005, name: 'UIOnly', password: 'UIOnly', roleIds: [50005] },
    ],
    bpartners: [
      { id: 117, clientId: 11, value: 'C&W', name: 'C&W Construction' },
      { id: 118, clientId: 11, value: 'JoeBlock', name: 'Joe Block' },
      { id: 120, clientId: 11, value: 'Patio', name: 'Patio Fun, Inc.' },
      { id: 1000001, clientId: 1000000, value: 'SunCust', name: 'Sunrise Customer' },
    ],
    loginLanguages: ['en_US', 'es_CO', 'de_DE'],
  };
}

export type LoginCheck = { ok: true; clients: IdClient[] } | { ok: false; message?: string };

const isActive = (row: { active?: boolean }) => row.active !== false;
const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);

/** Read and write access to the model, with the queries `Login` and the REST plugin make. */
export class Directory {
  #data: IdempiereData;

  constructor(data: IdempiereData) {
    this.#data = structuredClone(data);
  }

  get loginLanguages(): string[] {
    return this.#data.loginLanguages;
  }

  client(id: number): IdClient | undefined {
    return this.#data.clients.find((c) => c.id === id);
  }

  role(id: number): IdRole | undefined {
    return this.#data.roles.find((r) => r.id === id);
  }

  org(id: number): IdOrg | undefined {
    return this.#data.orgs.find((o) => o.id === id);
  }

  warehouse(id: number): IdWarehouse | undefined {
    return this.#data.warehouses.find((w) => w.id === id);
  }

  user(name: string): IdUser | undefined {
    return this.#data.users.find((u) => u.name === name);
  }

  userById(id: number): IdUser | undefined {
    return this.#data.users.find((u) => u.id === id);
  }

  bpartners(clientId: number): IdBPartner[] {
    return this.#data.bpartners.filter((b) => b.clientId === clientId);
  }

  /** `Login.getClients(user, password, "NULL,WS")`. */
  login(userName: string | undefined, password: string | undefined): LoginCheck {
    const user = userName === undefined ? undefined : this.user(userName);
    // The user query only finds active users holding an active role of an allowed type.
    if (!user || !isActive(user) || !user.roleIds.some((id) => this.#usableRole(this.role(id))))
      return { ok: false };
    if (user.password !== password) return { ok: false };
    if (user.locked) {
      return {
        ok: false,
        message: `User account '${user.name}' is locked, please contact the system administrator`,
      };
    }
    const clients = new Map<number, IdClient>();
    for (const role of user.roleIds.map((id) => this.role(id))) {
      const client = role && this.#usableRole(role) ? this.client(role.clientId) : undefined;
      if (client && isActive(client)) clients.set(client.id, client);
    }
    return clients.size === 0 ? { ok: false } : { ok: true, clients: [...clients.values()].sort(byName) };
  }

  /** `Login.getRoles(user, client, "NULL,WS")`: usable roles with some org access, by name. */
  rolesFor(userName: string, clientId: number): IdRole[] {
    const user = this.user(userName);
    if (!user || !isActive(user)) return [];
    return user.roleIds
      .map((id) => this.role(id))
      .filter(
        (role): role is IdRole => role !== undefined && role.clientId === clientId && this.#usableRole(role),
      )
      .filter((role) => this.#orgAccess(user, role).length > 0)
      .sort(byName);
  }

  /** `Login.getOrgs(role)`: the orgs the role (or, for useUserOrgAccess, the user) reaches. */
  orgsFor(userName: string, role: IdRole): IdOrg[] {
    const user = this.user(userName);
    if (!user) return [];
    return this.#orgAccess(user, role)
      .map((id) => this.org(id))
      .filter((org): org is IdOrg => org !== undefined && isActive(org));
  }

  /** `getOrgIdFirstOnly`: the only org reachable, or -1. */
  onlyOrg(userName: string, role: IdRole): number {
    const user = this.user(userName);
    const access = user ? this.#orgAccess(user, role) : [];
    return access.length === 1 ? (access[0] ?? -1) : -1;
  }

  /** `Login.getWarehouses(org)`. */
  warehousesFor(orgId: number): IdWarehouse[] {
    return this.#data.warehouses.filter((w) => w.orgId === orgId && isActive(w)).sort(byName);
  }

  activeClientByValue(value: string): IdClient | undefined {
    return this.#data.clients.find((c) => c.value === value && isActive(c));
  }

  activeRolesNamed(clientId: number, name: string): IdRole[] {
    return this.#data.roles.filter((r) => r.clientId === clientId && isActive(r) && r.name === name);
  }

  activeOrgsNamed(clientId: number, nameOrValue: string): IdOrg[] {
    return this.#data.orgs.filter(
      (o) => o.clientId === clientId && isActive(o) && (o.name === nameOrValue || o.value === nameOrValue),
    );
  }

  activeWarehousesNamed(clientId: number, nameOrValue: string): IdWarehouse[] {
    return this.#data.warehouses.filter(
      (w) => w.clientId === clientId && isActive(w) && (w.name === nameOrValue || w.value === nameOrValue),
    );
  }

  #usableRole(role: IdRole | undefined): boolean {
    return role !== undefined && isActive(role) && (role.roleType === null || role.roleType === 'WS');
  }

  #orgAccess(user: IdUser, role: IdRole): number[] {
    return role.useUserOrgAccess ? (user.orgAccess ?? []) : role.orgAccess;
  }
}
