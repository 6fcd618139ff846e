// Pure IP address and CIDR parsing and matching for the outbound address policy. Addresses are
// bigints; IPv4-mapped IPv6 (::ffff:a.b.c.d) is folded into IPv4 so that one rule for
// 169.254.0.0/16 also catches ::ffff:169.254.169.254.

export interface IpAddress {
  family: 4 | 6;
  /** 32 bits for IPv4, 128 bits for IPv6. */
  value: bigint;
}

export interface Cidr {
  family: 4 | 6;
  /** The network address, host bits cleared. */
  network: bigint;
  prefix: number;
}

const MAPPED_PREFIX = 0xffffn << 32n;

function bits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseGroups(text: string): bigint[] | undefined {
  if (text === '') return [];
  const groups: bigint[] = [];
  const parts = text.split(':');
  for (const [index, part] of parts.entries()) {
    if (index === parts.length - 1 && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (v4 === undefined) return undefined;
      groups.push(v4 >> 16n, v4 & 0xffffn);
    } else if (/^[0-9a-f]{1,4}$/i.test(part)) {
      groups.push(BigInt(`0x${part}`));
    } else {
      return undefined;
    }
  }
  return groups;
}

function parseIpv6(text: string): bigint | undefined {
  // A zone ("fe80::1%eth0") names an interface, not a different address.
  const address = text.replace(/%[^%]+$/, '');
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0] ?? '');
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<bigint>(missing).fill(0n), ...tail];
  return groups.reduce((value, group) => (value << 16n) | group, 0n);
}

/** The address as written, without folding IPv4-mapped IPv6 into IPv4. */
function parseRaw(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const value = parseIpv6(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIpv4(text);
  return value === undefined ? undefined : { family: 4, value };
}

function isMapped(address: IpAddress): boolean {
  return address.family === 6 && address.value >> 32n === 0xffffn;
}

/** Parses an IPv4 or IPv6 address (brackets and zone allowed); IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): IpAddress | undefined {
  const raw = parseRaw(text.replace(/^\[(.*)\]$/, '$1'));
  if (raw === undefined) return undefined;
  return isMapped(raw) ? { family: 4, value: raw.value - MAPPED_PREFIX } : raw;
}

export class CidrError extends Error {
  constructor(text: string) {
    super(`"${text}" is not a CIDR range such as 10.0.0.0/8, fd00::/8 or 192.0.2.1`);
    this.name = 'CidrError';
  }
}

/** Parses "address/prefix" (or a bare address, a single host); host bits are cleared. */
export function parseCidr(text: string): Cidr {
  const [addressText = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) throw new CidrError(text);
  const raw = parseRaw(addressText);
  if (raw === undefined) throw new CidrError(text);
  let prefix = bits(raw.family);
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) throw new CidrError(text);
    prefix = Number(prefixText);
    if (prefix > bits(raw.family)) throw new CidrError(text);
  }
  // ::ffff:169.254.0.0/112 is 169.254.0.0/16: match it against folded addresses.
  const mapped = isMapped(raw) && prefix >= 96;
  const family = mapped ? 4 : raw.family;
  const value = mapped ? raw.value - MAPPED_PREFIX : raw.value;
  const length = mapped ? prefix - 96 : prefix;
  return { family, prefix: length, network: mask(value, family, length) };
}

function mask(value: bigint, family: 4 | 6, prefix: number): bigint {
  const hostBits = BigInt(bits(family) - prefix);
  return (value >> hostBits) << hostBits;
}

export function cidrContains(cidr: Cidr, address: IpAddress): boolean {
  return cidr.family === address.family && mask(address.value, address.family, cidr.prefix) === cidr.network;
}

/** Whether every address of `inner` is also in `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return (
    inner.family === outer.family &&
    inner.prefix >= outer.prefix &&
    cidrContains(outer, { family: inner.family, value: inner.network })
  );
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ family: cidr.family, value: cidr.network })}/${cidr.prefix}`;
}

/** Dotted quad for IPv4; RFC 5952 text for IPv6 (longest run of zero groups as "::"). */
export function formatIp(address: IpAddress): string {
  if (address.family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((address.value >> shift) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n)
    groups.push(((address.value >> shift) & 0xffffn).toString(16));
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === '0') length++;
    if (length > best.length) best = { start, length };
  }
  if (best.start < 0) return groups.join(':');
  const head = groups.slice(0, best.start).join(':');
  const tail = groups.slice(best.start + best.length).join(':');
  return `${head}::${tail}`;
}
