// Minimal JWS compact serialisation over node:crypto, so each emulator controls the exact header and
// claim order its vendor emits, plus an RSA key ring with rotation and a JWKS view.
import {
  createHmac,
  generateKeyPair,
  randomUUID,
  sign as rsaSign,
  timingSafeEqual,
  verify as rsaVerify,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';

export type JsonObject = Record<string, unknown>;

export interface DecodedJwt {
  header: JsonObject;
  payload: JsonObject;
  signingInput: string;
  signature: Buffer;
}

export function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

export function encodeJwt(header: JsonObject, payload: JsonObject, sign: (input: string) => Buffer): string {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  return `${input}.${sign(input).toString('base64url')}`;
}

/** Splits and parses a compact JWS; undefined when it is not one. No signature check. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h = '', p = '', s = ''] = parts;
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as unknown;
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(payload)) return undefined;
    return { header, payload, signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function hmacSignature(
  algorithm: 'sha256' | 'sha512',
  secret: string | Buffer,
  input: string,
): Buffer {
  return createHmac(algorithm, secret).update(input).digest();
}

export function hmacMatches(
  algorithm: 'sha256' | 'sha512',
  secret: string | Buffer,
  decoded: DecodedJwt,
): boolean {
  const expected = hmacSignature(algorithm, secret, decoded.signingInput);
  return expected.length === decoded.signature.length && timingSafeEqual(expected, decoded.signature);
}

interface RsaKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Former names of this key material (a TapData restart renames the key, keeps the pair). */
  aliases: string[];
}

const generateRsa = promisify(generateKeyPair);
let sharedPair: Promise<{ privateKey: KeyObject; publicKey: KeyObject }> | undefined;

/** One 2048-bit pair per process: key generation is slow on a busy machine, and most tests need one. */
function rsaPair(fresh: boolean): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  const make = () => generateRsa('rsa', { modulusLength: 2048 });
  if (fresh) return make();
  sharedPair ??= make();
  return sharedPair;
}

export type HeaderFor = (kid: string) => JsonObject;

const defaultHeader: HeaderFor = (kid) => ({ alg: 'RS256', kid, typ: 'JWT' });

/** RS256 signing keys: the newest signs, all kept ones verify and appear in the JWKS. */
export class RsaKeyRing {
  #keys: RsaKey[] = [];

  private constructor() {}

  /** A ring with one key. `fresh` generates new material instead of the process-wide shared pair. */
  static async create(options: { kid?: string; fresh?: boolean } = {}): Promise<RsaKeyRing> {
    const ring = new RsaKeyRing();
    const pair = await rsaPair(options.fresh ?? false);
    ring.#keys.push({ kid: options.kid ?? randomUUID(), ...pair, aliases: [] });
    return ring;
  }

  get kid(): string {
    return this.#current().kid;
  }

  /** Kids that still verify, newest first. */
  kids(): string[] {
    return this.#keys.map((key) => key.kid).reverse();
  }

  sign(payload: JsonObject, header: HeaderFor = defaultHeader): string {
    const key = this.#current();
    return encodeJwt(header(key.kid), payload, (input) =>
      rsaSign('sha256', Buffer.from(input), key.privateKey),
    );
  }

  /**
   * The decoded token if its RS256 signature is good under a kept key. `kid`: `match` (default) needs
   * the header's kid to name that key or one of its former names, `current` refuses former names,
   * `ignore` tries every kept key.
   */
  verify(token: string, options: { kid?: 'match' | 'current' | 'ignore' } = {}): DecodedJwt | undefined {
    const decoded = decodeJwt(token);
    if (decoded?.header.alg !== 'RS256') return undefined;
    const kid = decoded.header.kid;
    const mode = options.kid ?? 'match';
    const candidates = this.#keys.filter(
      (key) =>
        mode === 'ignore' || key.kid === kid || (mode === 'match' && key.aliases.includes(String(kid))),
    );
    const good = candidates.some((key) =>
      rsaVerify('sha256', Buffer.from(decoded.signingInput), key.publicKey, decoded.signature),
    );
    return good ? decoded : undefined;
  }

  /** New key material under a new kid; the old key keeps verifying unless `retireOld`. */
  async rotate(options: { kid?: string; retireOld?: boolean } = {}): Promise<void> {
    const pair = await rsaPair(true);
    if (options.retireOld) this.#keys = [];
    this.#keys.push({ kid: options.kid ?? randomUUID(), ...pair, aliases: [] });
  }

  /** Same key material under a new kid; tokens naming the old kid still verify. */
  rename(kid: string = randomUUID()): void {
    const key = this.#current();
    key.aliases.push(key.kid);
    key.kid = kid;
  }

  /** Public keys as a JWKS, newest first; `pem` adds UAA's `value` member. */
  jwks(options: { pem?: boolean } = {}): { keys: JsonObject[] } {
    return {
      keys: [...this.#keys].reverse().map((key) => {
        const jwk = key.publicKey.export({ format: 'jwk' }) as JsonObject;
        const pem = options.pem
          ? { value: key.publicKey.export({ format: 'pem', type: 'spki' }).toString() }
          : {};
        return { kty: jwk.kty, e: jwk.e, use: 'sig', kid: key.kid, alg: 'RS256', ...pem, n: jwk.n };
      }),
    };
  }

  #current(): RsaKey {
    const key = this.#keys.at(-1);
    if (!key) throw new Error('key ring is empty');
    return key;
  }
}

/** Whole seconds since the epoch, as JWT NumericDate. */
export function epochSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}
