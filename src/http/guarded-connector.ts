// Enforces the address policy where the socket is opened: the lookup hands net.connect only
// addresses it has checked, and IP literals (which net.connect never looks up) are checked before
// connecting. Nothing resolves the name a second time, so DNS rebinding cannot slip past it.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { buildConnector } from 'undici';
import { addressNotAllowed, type AddressChecker } from './address-policy.ts';

/** A lookup that resolves every address and refuses the name if any of them is not allowed. */
export function guardedLookup(checker: AddressChecker, resolve: LookupFunction = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, result, family) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const addresses: LookupAddress[] = Array.isArray(result)
        ? result
        : [{ address: result, family: family ?? 0 }];
      for (const entry of addresses) {
        const decision = checker.check(entry.address);
        // A name with one bad address is suspect as a whole: refuse it rather than pick another.
        if (!decision.allowed) {
          callback(addressNotAllowed(hostname, decision), '', 0);
          return;
        }
      }
      const first = addresses[0];
      if (options.all) callback(null, addresses);
      else if (first) callback(null, first.address, first.family);
      else callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
    });
  };
}

export interface GuardedConnectorOptions {
  checker: AddressChecker;
  connectTimeoutMs: number;
  /** The complete trust store; undefined means Node's default. */
  ca: string[] | undefined;
  lookup?: LookupFunction;
}

export function guardedConnector(options: GuardedConnectorOptions): buildConnector.connector {
  const connect = buildConnector({
    timeout: options.connectTimeoutMs,
    allowH2: false,
    lookup: guardedLookup(options.checker, options.lookup),
    ...(options.ca ? { ca: options.ca } : {}),
  });
  return (target, callback) => {
    if (isIP(target.hostname) !== 0) {
      const decision = options.checker.check(target.hostname);
      if (!decision.allowed) {
        callback(addressNotAllowed(target.hostname, decision), null);
        return;
      }
    }
    connect(target, callback);
  };
}
