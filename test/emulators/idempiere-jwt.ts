// iDempiere's tokens as com.auth0 java-jwt 4.4 makes and checks them: HS512 over the server secret,
// header {"kid":"idempiere","typ":"JWT","alg":"HS512"}, issuer "idempiere.org", and java-jwt's exact
// exception messages, which the plugin copies into its error bodies.
import { randomUUID } from 'node:crypto';
import { encodeJwt, hmacSignature, type JsonObject } from './jwt.ts';

export const IDEMPIERE_ISSUER = 'idempiere.org';
export const IDEMPIERE_KEY_ID = 'idempiere';

export type VerifyResult = { ok: true; claims: JsonObject } | { ok: false; message: string };

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function wrongParts(count: string): VerifyResult {
  return { ok: false, message: `The token was expected to have 3 parts, but got ${count}.` };
}

function decodePart(part: string): { ok: true; value: JsonObject } | { ok: false; message: string } {
  if (!BASE64URL.test(part))
    return { ok: false, message: 'The input is not a valid base 64 encoded string.' };
  const source = Buffer.from(part, 'base64url').toString('utf8');
  try {
    const value = JSON.parse(source) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return { ok: true, value: value as JsonObject };
  } catch {
    // reported below, as java-jwt does
  }
  return { ok: false, message: `The string '${source}' doesn't have a valid JSON format.` };
}

/** java-jwt's `Instant.toString()` of an `exp`: ISO-8601 without a zero fraction. */
export function javaInstant(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
}

export class JavaJwt {
  #secret: string;

  constructor(secret: string = randomUUID()) {
    this.#secret = secret;
  }

  /** REST_TOKEN_SECRET: a UUID string, used as its UTF-8 bytes. */
  get secret(): string {
    return this.#secret;
  }

  /** "Expire Server Secret": every token signed before stops verifying. */
  rotate(secret: string = randomUUID()): void {
    this.#secret = secret;
  }

  /** Signs `claims` plus `iss` and, when given, `exp` (epoch seconds). java-jwt adds no `iat`. */
  sign(claims: JsonObject, exp?: number): string {
    const payload = { ...claims, iss: IDEMPIERE_ISSUER, ...(exp === undefined ? {} : { exp }) };
    return encodeJwt({ kid: IDEMPIERE_KEY_ID, typ: 'JWT', alg: 'HS512' }, payload, (input) =>
      hmacSignature('sha512', this.#secret, input),
    );
  }

  /**
   * `JWT.require(HMAC512(secret)).withIssuer("idempiere.org").build().verify(token)`, with
   * `acceptExpiresAt(MAX)` when `checkExp` is false.
   */
  verify(token: string | undefined, options: { now: number; checkExp: boolean }): VerifyResult {
    if (token === undefined) return { ok: false, message: 'The token is null.' };
    const first = token.indexOf('.');
    if (first < 0) return wrongParts('0');
    const second = token.indexOf('.', first + 1);
    if (second < 0) return wrongParts('2');
    if (token.includes('.', second + 1)) return wrongParts('> 3');
    const header = decodePart(token.slice(0, first));
    if (!header.ok) return header;
    const payload = decodePart(token.slice(first + 1, second));
    if (!payload.ok) return payload;
    if (header.value.alg !== 'HS512') {
      return {
        ok: false,
        message: "The provided Algorithm doesn't match the one defined in the JWT's Header.",
      };
    }
    const signature = token.slice(second + 1);
    const expected = hmacSignature('sha512', this.#secret, token.slice(0, second)).toString('base64url');
    if (signature.replace(/=+$/, '') !== expected) {
      return {
        ok: false,
        message: "The Token's Signature resulted invalid when verified using the Algorithm: HmacSHA512",
      };
    }
    const claims = payload.value;
    if (!('iss' in claims)) return { ok: false, message: "The Claim 'iss' is not present in the JWT." };
    if (claims.iss !== IDEMPIERE_ISSUER) {
      return { ok: false, message: "The Claim 'iss' value doesn't match the required issuer." };
    }
    const exp = claims.exp;
    if (options.checkExp && typeof exp === 'number' && options.now > exp * 1000) {
      return { ok: false, message: `The Token has expired on ${javaInstant(exp)}.` };
    }
    return { ok: true, claims };
  }
}
