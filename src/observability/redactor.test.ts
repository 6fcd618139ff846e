import { describe, expect, it } from 'vitest';
import { REDACTED, SecretRedactor } from './redactor.ts';

const SECRET = 'kq8-Zr2!mW"p\\x/9+=&a b';

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

describe('SecretRedactor', () => {
  it('replaces a registered value and keeps the text around it', () => {
    const redactor = new SecretRedactor();
    redactor.add('s3cr3t-value');
    expect(redactor.scrub('login with s3cr3t-value failed; s3cr3t-value again')).toBe(
      `login with ${REDACTED} failed; ${REDACTED} again`,
    );
    expect(redactor.scrub('nothing to see here')).toBe('nothing to see here');
  });

  it('redacts a short secret as a whole word, not inside longer words', () => {
    // Only credentials are registered: a 5-character password is still a password.
    const redactor = new SecretRedactor({ shapes: false });
    expect(redactor.add('pw1!x')).toBe(true);
    expect(redactor.add('   abc  ')).toBe(true);
    expect(redactor.scrub('login with pw1!x failed')).toBe(`login with ${REDACTED} failed`);
    expect(redactor.scrub('{"password":"pw1!x"}')).toBe(`{"password":"${REDACTED}"}`);
    expect(redactor.scrub(`form password=${encodeURIComponent('pw1!x')}`)).toBe(`form password=${REDACTED}`);
    expect(redactor.scrub('abc, then abcdef and xabc')).toBe(`${REDACTED}, then abcdef and xabc`);
    expect(redactor.scrub(`data: {"password":"${b64('pw1!x')}"}`)).toBe(`data: {"password":"${REDACTED}"}`);
    redactor.remove('pw1!x');
    redactor.remove('   abc  ');
    expect(redactor.size).toBe(0);
    expect(redactor.scrub('pw1!x abc')).toBe('pw1!x abc');
  });

  it('keeps a short secret while another owner holds it', () => {
    const redactor = new SecretRedactor({ shapes: false });
    redactor.add('pin9', 'team-a/orders');
    redactor.add('pin9', 'team-a/billing');
    redactor.forget('team-a/orders');
    expect(redactor.scrub('pin9')).toBe(REDACTED);
    redactor.forget('team-a/billing');
    expect(redactor.scrub('pin9')).toBe('pin9');
  });

  it('keeps a JSON line valid when a short numeric secret equals a bare number', () => {
    const redactor = new SecretRedactor({ shapes: false });
    redactor.add('4321');
    const line = redactor.scrub('{"failures":4321,"pin":"4321","n":[14321]}');
    expect(JSON.parse(line)).toEqual({ failures: REDACTED, pin: REDACTED, n: [14321] });
  });

  it('ignores empty and blank values', () => {
    const redactor = new SecretRedactor();
    expect(redactor.add('')).toBe(false);
    expect(redactor.add(' \n')).toBe(false);
    expect(redactor.size).toBe(0);
    expect(redactor.scrub('a b')).toBe('a b');
  });

  it('keeps identity: a match inside a kept name stays, the same value elsewhere goes', () => {
    // A secret spelled like the credential's name (or like another credential's name).
    const redactor = new SecretRedactor({ shapes: false });
    redactor.add('orders', 'acc-h/billing');
    redactor.add('hunter2-orders', 'acc-h/orders');
    const keep = ['acc-h/orders', 'orders-client'];
    expect(
      redactor.scrub('Secret acc-h/orders-client of acc-h/orders: got orders and hunter2-orders', keep),
    ).toBe(`Secret acc-h/orders-client of acc-h/orders: got ${REDACTED} and ${REDACTED}`);
    expect(redactor.scrub('Secret acc-h/orders-client')).toBe(`Secret acc-h/${REDACTED}-client`);
  });

  it.each([
    ['raw', SECRET],
    ['base64 (Secret data)', b64(SECRET)],
    ['URL-encoded', encodeURIComponent(SECRET)],
    ['form-encoded', new URLSearchParams({ client_secret: SECRET }).toString().split('=').slice(1).join('=')],
    ['JSON-escaped', JSON.stringify(SECRET).slice(1, -1)],
  ])('redacts the %s form', (_form, encoded) => {
    const redactor = new SecretRedactor({ shapes: false });
    redactor.add(SECRET);
    const scrubbed = redactor.scrub(`before ${encoded} after`);
    expect(scrubbed).toBe(`before ${REDACTED} after`);
  });

  it('redacts a value inside longer base64 (Basic id:secret) at every byte alignment', () => {
    const redactor = new SecretRedactor({ shapes: false });
    const secret = 'Zq7VtR2pLm9XcW4sYb8N';
    redactor.add(secret);
    for (const id of ['a', 'ab', 'abc', 'abcd']) {
      const header = b64(`${id}:${secret}`);
      const scrubbed = redactor.scrub(`X-SPACE-AUTH-KEY: Basic ${header}`);
      // At most the id and one partial group on each side stay.
      expect(scrubbed).toMatch(/^X-SPACE-AUTH-KEY: Basic [A-Za-z0-9+/]{0,8}\[redacted\][A-Za-z0-9+/=]{0,4}$/);
    }
  });

  it('redacts the trimmed value of a Secret key that ends with a newline', () => {
    const redactor = new SecretRedactor();
    redactor.add('pa55word-from-file\n');
    expect(redactor.scrub('password=pa55word-from-file;')).not.toContain('pa55word-from-file');
  });

  it('redacts non-ASCII values and their UTF-8 base64', () => {
    const redactor = new SecretRedactor({ shapes: false });
    redactor.add('Grüße-geheim-€');
    expect(redactor.scrub('x Grüße-geheim-€ y')).toBe(`x ${REDACTED} y`);
    expect(redactor.scrub(`x ${b64('Grüße-geheim-€')} y`)).toBe(`x ${REDACTED} y`);
  });

  it('merges overlapping and adjacent matches and prefers the longest value', () => {
    const redactor = new SecretRedactor({ shapes: false });
    redactor.add('abcdefgh');
    redactor.add('efghijkl');
    expect(redactor.scrub('xx abcdefghijkl xx')).toBe(`xx ${REDACTED} xx`);
    redactor.add('secret-one');
    redactor.add('secret-one-two');
    expect(redactor.scrub('[secret-one-two]')).toBe(`[${REDACTED}]`);
    expect(redactor.scrub('abcdefghabcdefgh')).toBe(REDACTED);
  });

  it('forgets a removed value in every form', () => {
    const redactor = new SecretRedactor({ shapes: false });
    redactor.add('rotated-token-1');
    redactor.remove('rotated-token-1');
    expect(redactor.size).toBe(0);
    expect(redactor.scrub(`rotated-token-1 ${b64('rotated-token-1')}`)).toBe(
      `rotated-token-1 ${b64('rotated-token-1')}`,
    );
  });

  it('keeps a value while another owner still holds it', () => {
    const redactor = new SecretRedactor();
    redactor.add('shared-client-secret', 'team-a/orders');
    redactor.add('shared-client-secret', 'team-a/billing');
    redactor.remove('shared-client-secret', 'team-a/orders');
    expect(redactor.scrub('shared-client-secret')).toBe(REDACTED);
    redactor.remove('shared-client-secret', 'team-a/billing');
    expect(redactor.scrub('shared-client-secret')).toBe('shared-client-secret');
  });

  it('counts an owner once however often it adds a value (owners are a list, not a set)', () => {
    const redactor = new SecretRedactor();
    redactor.add(SECRET, 'team-a/orders');
    redactor.add(SECRET, 'team-a/orders');
    redactor.replace('team-a/orders', [SECRET]);
    redactor.remove(SECRET, 'team-a/orders');
    expect(redactor.size).toBe(0);
    expect(redactor.scrub(`x ${SECRET} y`)).toBe(`x ${SECRET} y`);
  });

  it('remove without an owner forgets the value for every owner', () => {
    const redactor = new SecretRedactor();
    redactor.add('token-value-42', 'team-a/orders');
    redactor.add('token-value-42');
    redactor.remove('token-value-42');
    expect(redactor.size).toBe(0);
    expect(redactor.scrub('token-value-42')).toBe('token-value-42');
  });

  it('replace() makes an owner hold exactly the given values', () => {
    const redactor = new SecretRedactor();
    redactor.replace('team-a/orders', ['access-token-1', 'client-secret-x']);
    redactor.replace('team-a/orders', ['access-token-2', 'client-secret-x']);
    expect(redactor.size).toBe(2);
    expect(redactor.scrub('access-token-1 access-token-2 client-secret-x')).toBe(
      `access-token-1 ${REDACTED} ${REDACTED}`,
    );
    redactor.forget('team-a/orders');
    expect(redactor.size).toBe(0);
    expect(redactor.scrub('access-token-2')).toBe('access-token-2');
  });

  it('tells apart values that end alike, and forgets one without the other', () => {
    const redactor = new SecretRedactor({ shapes: false });
    const long = 'first-secret-tail-XYZ123';
    const short = 'tail-XYZ123';
    redactor.add(long, 'a');
    redactor.add(short, 'b');
    expect(redactor.scrub(`${long} / ${short} / XYZ123`)).toBe(`${REDACTED} / ${REDACTED} / XYZ123`);
    redactor.forget('a');
    expect(redactor.scrub(`${long} / ${short}`)).toBe(`first-secret-${REDACTED} / ${REDACTED}`);
    redactor.forget('b');
    expect(redactor.scrub(`${long} / ${short}`)).toBe(`${long} / ${short}`);
    expect(redactor.size).toBe(0);
  });

  it('returns to empty after thousands of values come and go', () => {
    const redactor = new SecretRedactor({ shapes: false });
    const values = Array.from({ length: 3000 }, (_, i) => `tok-${i.toString(36)}-${'x'.repeat(i % 40)}`);
    values.forEach((value, i) => redactor.add(value, `ns/c${i % 100}`));
    expect(redactor.size).toBe(3000);
    for (let i = 0; i < 100; i++) redactor.forget(`ns/c${i}`);
    expect(redactor.size).toBe(0);
    expect(redactor.scrub(values.join(' '))).toBe(values.join(' '));
  });

  it('scans in time proportional to the text, not to the number of values', () => {
    const redactor = new SecretRedactor();
    // JWTs from one issuer share a long header: the worst case for prefix bucketing.
    const header = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9';
    const tokens = Array.from(
      { length: 5000 },
      (_, i) => `${header}.eyJzdWIiOiI${i}In0.sig${(i * 7919).toString(36)}xyz`,
    );
    for (const token of tokens) redactor.add(token);
    const line = `{"msg":"renewed ${tokens[1234] ?? ''}","detail":"${'ordinary text '.repeat(60)}"}`;
    const started = performance.now();
    let out = '';
    for (let i = 0; i < 2000; i++) out = redactor.scrub(line);
    const elapsed = performance.now() - started;
    expect(out).not.toContain('sig');
    expect(out).toContain('ordinary text');
    // An indexOf per value per line takes minutes here; the rolling hash takes milliseconds.
    expect(elapsed).toBeLessThan(2000);
  });

  it('redacts credential shapes nobody registered', () => {
    const redactor = new SecretRedactor();
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcmRlcnMifQ.c2lnbmF0dXJlLWJ5dGVz';
    expect(redactor.scrub(`got ${jwt} back`)).toBe(`got ${REDACTED} back`);
    expect(redactor.scrub('Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345')).toBe(
      `Authorization: Bearer ${REDACTED}`,
    );
    expect(redactor.scrub('GET /t?client_id=app&client_secret=hunter2hunter2&scope=a')).toBe(
      `GET /t?client_id=app&client_secret=${REDACTED}&scope=a`,
    );
    expect(redactor.scrub('grant_type=password&password=pw123456')).toBe(
      `grant_type=password&password=${REDACTED}`,
    );
    expect(redactor.scrub('token_type is Bearer, expires in 300 s')).toBe(
      'token_type is Bearer, expires in 300 s',
    );
    expect(new SecretRedactor({ shapes: false }).scrub(`got ${jwt}`)).toBe(`got ${jwt}`);
  });
});
