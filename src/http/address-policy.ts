// Which IP addresses the operator may connect to. Checked on every resolved address at connect
// time (see guarded-connector.ts), never on the URL string, so DNS rebinding cannot slip past it.
import { ProviderError } from '../errors/failure.ts';
import { cidrContains, cidrWithin, formatCidr, formatIp, parseCidr, parseIp, type Cidr } from './cidr.ts';

export interface AddressPolicy {
  /**
   * Allowed outbound address ranges (CIDRs, or single addresses). When non-empty, only addresses
   * in these ranges, and loopback if allowed, are reachable. A range inside a block denied by
   * default (169.254.169.254/32 inside link-local) lifts that deny; a broader range such as
   * 0.0.0.0/0 does not, so "allow everything" never silently opens a metadata service.
   */
  allow?: readonly string[];
  /** 127.0.0.0/8 and ::1. Default true: tests and sidecars listen there. */
  allowLoopback?: boolean;
}

export type AddressDecision =
  { allowed: true } | { allowed: false; address: string; what: string; hint: string };

export interface AddressChecker {
  check(address: string): AddressDecision;
}

/** The operator flag that feeds AddressPolicy.allow (src/config.ts), for messages. */
export const ALLOW_FLAG = '--allowed-cidrs (APICRED_ALLOWED_CIDRS)';

const DENIED_BY_DEFAULT: readonly { range: string; what: string }[] = [
  { range: '169.254.0.0/16', what: 'a link-local address, where cloud metadata services live' },
  { range: 'fe80::/10', what: 'an IPv6 link-local address' },
  { range: 'fd00:ec2::254/128', what: 'the AWS instance metadata service address' },
  { range: '100.100.100.200/32', what: 'the Alibaba Cloud metadata service address' },
  { range: '0.0.0.0/8', what: 'an unspecified address, which reaches this host' },
  { range: '::/128', what: 'the unspecified address, which reaches this host' },
];

const LOOPBACK = [parseCidr('127.0.0.0/8'), parseCidr('::1/128')];

const denied = DENIED_BY_DEFAULT.map((entry) => ({ cidr: parseCidr(entry.range), what: entry.what }));

/** Compiles a policy; throws a CidrError naming a malformed range. */
export function compileAddressPolicy(policy: AddressPolicy = {}): AddressChecker {
  const allow = (policy.allow ?? []).map((text) => parseCidr(text));
  const allowLoopback = policy.allowLoopback ?? true;
  const allowText = allow.map(formatCidr).join(',');
  const listed = (address: ReturnType<typeof parseIp> & object): Cidr | undefined =>
    allow.find((cidr) => cidrContains(cidr, address));

  return {
    check(text) {
      const address = parseIp(text);
      if (address === undefined) {
        return {
          allowed: false,
          address: text,
          what: 'not an IP address',
          hint: 'this is a bug in the resolver',
        };
      }
      const shown = formatIp(address);
      const single = `${shown}/${address.family === 4 ? 32 : 128}`;
      const block = denied.find((entry) => cidrContains(entry.cidr, address));
      if (block) {
        const lifted = allow.some((cidr) => cidrContains(cidr, address) && cidrWithin(cidr, block.cidr));
        if (lifted) return { allowed: true };
        return {
          allowed: false,
          address: shown,
          what: block.what,
          hint:
            `to allow it, list ${single} in ${ALLOW_FLAG}` +
            (allow.length === 0
              ? '; once that flag is set only the listed ranges are reachable, so add 0.0.0.0/0,::/0 if everything else should stay reachable'
              : ''),
        };
      }
      if (LOOPBACK.some((cidr) => cidrContains(cidr, address))) {
        if (allowLoopback || listed(address)) return { allowed: true };
        return {
          allowed: false,
          address: shown,
          what: 'a loopback address, which this operator is configured not to reach',
          hint: `to allow it, list ${single} in ${ALLOW_FLAG}`,
        };
      }
      if (allow.length > 0 && !listed(address)) {
        return {
          allowed: false,
          address: shown,
          what: `outside the allowed outbound address ranges (${allowText})`,
          hint: `to allow it, add a range that holds it to ${ALLOW_FLAG}`,
        };
      }
      return { allowed: true };
    },
  };
}

/** The terminal error for a denied address; names the host, the address and the flag. */
export function addressNotAllowed(
  host: string,
  decision: Extract<AddressDecision, { allowed: false }>,
): ProviderError {
  const subject = parseIp(host) ? `${host} is` : `${host} resolved to ${decision.address},`;
  return new ProviderError({
    kind: 'terminal',
    reason: 'AddressNotAllowed',
    message: `${subject} ${decision.what}; the operator does not connect there: ${decision.hint}.`,
  });
}
