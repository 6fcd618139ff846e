// IP addresses and CIDR ranges for the outbound address policy, on Node's own parsers: net.isIP
// validates, the WHATWG URL parser writes IPv6 canonically (RFC 5952), and net.BlockList matches.
// IPv4-mapped IPv6 (::ffff:a.b.c.d) is folded into IPv4 so that one rule for 169.254.0.0/16 also
// catches ::ffff:169.254.169.254, and so that messages print the IPv4 address.
import { BlockList, isIP } from 'node:net';

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
/** Each range's BlockList, made on first use. */
const lists = new WeakMap<Cidr, BlockList>();

function bits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function familyName(family: 4 | 6): 'ipv4' | 'ipv6' {
  return family === 4 ? 'ipv4' : 'ipv6';
}

/** RFC 5952 text of IPv6 groups: the URL parser compresses the longest run of zero groups. */
function canonicalIpv6(text: string): string {
  return new URL(`http://[${text}]`).hostname.slice(1, -1);
}

/** The address as written (dotted IPv4 without leading zeros, or IPv6), without folding. */
function parseRaw(text: string): IpAddress | undefined {
  const family = isIP(text);
  if (family === 4) {
    return { family, value: text.split('.').reduce((value, octet) => (value << 8n) | BigInt(octet), 0n) };
  }
  if (family !== 6) return undefined;
  // A zone ("fe80::1%eth0") names an interface, not a different address.
  const [head = '', tail] = canonicalIpv6(text.replace(/%.*$/, '')).split('::');
  const groupsOf = (part: string | undefined): string[] => (part ? part.split(':') : []);
  const [first, last] = [groupsOf(head), groupsOf(tail)];
  const groups = [...first, ...Array<string>(8 - first.length - last.length).fill('0'), ...last];
  return { family, value: groups.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n) };
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
  const raw = extra === undefined ? parseRaw(addressText) : undefined;
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
  const length = mapped ? prefix - 96 : prefix;
  const hostBits = BigInt(bits(family) - length);
  const value = mapped ? raw.value - MAPPED_PREFIX : raw.value;
  return { family, prefix: length, network: (value >> hostBits) << hostBits };
}

/** The range as a BlockList, made once per range: a policy checks the same few on every connect. */
function listOf(cidr: Cidr): BlockList {
  let list = lists.get(cidr);
  if (!list) {
    list = new BlockList();
    list.addSubnet(
      formatIp({ family: cidr.family, value: cidr.network }),
      cidr.prefix,
      familyName(cidr.family),
    );
    lists.set(cidr, list);
  }
  return list;
}

export function cidrContains(cidr: Cidr, address: IpAddress): boolean {
  // Families never match: BlockList would put every IPv4 address in ::/0 (through ::ffff:0:0/96).
  if (cidr.family !== address.family) return false;
  return listOf(cidr).check(formatIp(address), familyName(address.family));
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
  const [count, width] = address.family === 4 ? [4, 8n] : [8, 16n];
  const groups = Array.from(
    { length: count },
    (_unused, index) => (address.value >> (width * BigInt(count - 1 - index))) & ((1n << width) - 1n),
  );
  if (address.family === 4) return groups.join('.');
  return canonicalIpv6(groups.map((group) => group.toString(16)).join(':'));
}
