import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import { TotalTimeoutError, errorCode, transportError, type TransportContext } from './transport-errors.ts';

function coded(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

const context: TransportContext = {
  target: 'POST kc.example:8443/realms/shop/token',
  host: 'kc.example:8443',
  sent: false,
  connectTimeoutMs: 5000,
  timeoutMs: 30000,
  caConfigured: false,
};

describe('transportError', () => {
  it.each<[string, Error, boolean, string, boolean]>([
    // Before the request reached a socket: safe to retry, nothing happened at the provider.
    ['refused', coded('ECONNREFUSED'), false, 'ProviderUnreachable', false],
    ['dns', coded('ENOTFOUND'), false, 'ProviderUnreachable', false],
    ['dns again', coded('EAI_AGAIN'), false, 'ProviderUnreachable', false],
    ['connect timeout', coded('UND_ERR_CONNECT_TIMEOUT'), false, 'ProviderUnreachable', false],
    ['reset in handshake', coded('ECONNRESET'), false, 'ProviderUnreachable', false],
    ['total timeout while connecting', new TotalTimeoutError(), false, 'ProviderUnreachable', false],
    [
      'happy eyeballs',
      new AggregateError([coded('ECONNREFUSED'), coded('ENETUNREACH')]),
      false,
      'ProviderUnreachable',
      false,
    ],
    ['refused, flagged sent', coded('ECONNREFUSED'), true, 'ProviderUnreachable', false],
    ['proxy 407', new Error('Proxy Authentication Required (407)'), true, 'ProviderUnreachable', false],
    // After: the provider may have acted.
    ['total timeout after send', new TotalTimeoutError(), true, 'ProviderTimeout', true],
    ['headers timeout', coded('UND_ERR_HEADERS_TIMEOUT'), true, 'ProviderTimeout', true],
    ['body timeout', coded('UND_ERR_BODY_TIMEOUT'), true, 'ProviderTimeout', true],
    ['other side closed', coded('UND_ERR_SOCKET', 'other side closed'), true, 'ConnectionReset', true],
    ['reset', coded('ECONNRESET'), true, 'ConnectionReset', true],
    ['pipe', coded('EPIPE'), true, 'ConnectionReset', true],
    ['unknown', new Error('something odd'), true, 'ConnectionReset', true],
    ['bad http', coded('HPE_INVALID_CONSTANT'), true, 'InvalidResponse', true],
    // Certificates: never sent.
    ['untrusted', coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), false, 'TLSVerificationFailed', false],
    ['self-signed', coded('DEPTH_ZERO_SELF_SIGNED_CERT'), false, 'TLSVerificationFailed', false],
    ['expired', coded('CERT_HAS_EXPIRED'), false, 'TLSVerificationFailed', false],
    ['altname', coded('ERR_TLS_CERT_ALTNAME_INVALID'), false, 'TLSVerificationFailed', false],
    [
      'wrapped',
      Object.assign(new Error('connect'), { cause: coded('SELF_SIGNED_CERT_IN_CHAIN') }),
      false,
      'TLSVerificationFailed',
      false,
    ],
  ])('%s (sent=%s) → %s', (_name, error, sent, reason, outcomeUnknown) => {
    const mapped = transportError(error, { ...context, sent });
    expect(mapped).toBeInstanceOf(ProviderError);
    expect(mapped).toMatchObject({ kind: 'transient', reason, outcomeUnknown });
    expect(mapped.message.startsWith(`${context.target}: `)).toBe(true);
    expect(mapped.cause).toBe(error);
  });

  it('tells a user what to do about an untrusted certificate', () => {
    const untrusted = transportError(
      coded('UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unable to get local issuer certificate'),
      context,
    );
    expect(untrusted.message).toContain(
      'TLS verification of kc.example:8443 failed (UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    );
    expect(untrusted.message).toContain('reference it with caBundleRef');
    const withBundle = transportError(coded('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), {
      ...context,
      caConfigured: true,
    });
    expect(withBundle.message).toContain('the CA bundle referenced by caBundleRef does not trust it either');
    const altname = transportError(coded('ERR_TLS_CERT_ALTNAME_INVALID'), context);
    expect(altname.message).toContain('the certificate does not name kc.example');
  });

  it('says which limit expired', () => {
    expect(transportError(coded('UND_ERR_CONNECT_TIMEOUT'), context).message).toContain(
      'no connection within 5000 ms',
    );
    expect(transportError(new TotalTimeoutError(), { ...context, sent: true }).message).toContain(
      'no complete answer within 30000 ms after the request was sent; the provider may have acted on it',
    );
  });

  it('keeps an error raised below it and prefixes the request', () => {
    const denied = new ProviderError({
      kind: 'terminal',
      reason: 'AddressNotAllowed',
      message: 'x resolved to 169.254.169.254',
    });
    const mapped = transportError(denied, context);
    expect(mapped).toMatchObject({
      kind: 'terminal',
      reason: 'AddressNotAllowed',
      outcomeUnknown: false,
      message: `${context.target}: x resolved to 169.254.169.254`,
    });
  });
});

describe('errorCode', () => {
  it.each<[unknown, string | undefined]>([
    [coded('ECONNRESET'), 'ECONNRESET'],
    [
      Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT', cause: coded('ECONNREFUSED') }),
      'ECONNREFUSED',
    ],
    [new AggregateError([new Error('no code'), coded('ETIMEDOUT')]), 'ETIMEDOUT'],
    [new Error('plain'), undefined],
    ['a string', undefined],
    [null, undefined],
  ])('%s → %s', (error, code) => {
    expect(errorCode(error)).toBe(code);
  });
});
