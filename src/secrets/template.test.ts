// spec.secret.template: every README example renders as documented, JSON is escaped, unknown
// variables and unparsable templates are refused with the key named, and no template reaches a file.
import { describe, expect, it } from 'vitest';
import { apiCredentialSpecSchema } from '../api/apicredential.ts';
import type { TokenSet } from '../providers/types.ts';
import {
  checkTemplates,
  consumerSecretData,
  renderTemplates,
  templateValuesOf,
  type TemplateValues,
} from './template.ts';

const ISSUED = Date.parse('2026-12-03T09:00:00Z');
const EXPIRES = Date.parse('2026-12-03T10:00:00Z');
const KEYS = { token: 'token', tokenType: 'token_type', expiresAt: 'expires_at' };

const single: TokenSet = {
  data: { token: 'eyJ.tok"en\\value', token_type: 'Bearer', expires_at: new Date(EXPIRES).toISOString() },
  issuedAt: ISSUED,
  expiresAt: EXPIRES,
  expirySource: 'expires_in',
};

const values: TemplateValues = templateValuesOf(single, KEYS);

function render(source: string, with_: TemplateValues = values): string {
  const outcome = renderTemplates({ out: source }, with_, []);
  if (!outcome.ok) throw new Error(outcome.message);
  return outcome.data['out'] ?? '';
}

describe('templateValuesOf', () => {
  it('takes token, tokenType and expiresAt from the keys spec.secret.keys names, issuedAt from the set', () => {
    const renamed = { token: 'access', tokenType: 'type', expiresAt: 'until' };
    const set: TokenSet = {
      ...single,
      data: { access: 'a', type: 'Bearer', until: '2026-12-03T10:00:00.000Z' },
    };
    expect(templateValuesOf(set, renamed)).toEqual({
      token: 'a',
      tokenType: 'Bearer',
      expiresAt: '2026-12-03T10:00:00.000Z',
      issuedAt: '2026-12-03T09:00:00.000Z',
      data: set.data,
    });
  });

  it('offers every key the provider wrote as data (IDMP cloud: both headers)', () => {
    const set: TokenSet = { ...single, data: { ...single.data, 'access-token': 'acc"ess' } };
    expect(
      render(
        'Authorization: Bearer {{ token }}\nAccess-token: {{ data["access-token"] }}',
        templateValuesOf(set, KEYS),
      ),
    ).toBe('Authorization: Bearer eyJ.tok"en\\value\nAccess-token: acc"ess');
  });

  it('offers the per-tenant tokens of a fan-out provider as tenants', () => {
    const set: TokenSet = {
      ...single,
      data: { 'token.acme': 'A', 'token.globex': 'G', tenants: 'acme\nglobex', token_type: 'Bearer' },
      perTenant: {
        acme: { token: 'A', tokenType: 'Bearer', expiresAt: EXPIRES },
        globex: { token: 'G', tokenType: 'Bearer', expiresAt: EXPIRES },
      },
    };
    expect(templateValuesOf(set, KEYS).tenants).toEqual({
      acme: { token: 'A', tokenType: 'Bearer', expiresAt: '2026-12-03T10:00:00.000Z' },
      globex: { token: 'G', tokenType: 'Bearer', expiresAt: '2026-12-03T10:00:00.000Z' },
    });
    expect(templateValuesOf(set, KEYS).token).toBeUndefined();
  });
});

describe('the README examples', () => {
  it('config.json: the json filter escapes quotes and backslashes', () => {
    const out = render('{"apiKey": {{ token | json }}, "expires": {{ expiresAt | json }}}');
    expect(JSON.parse(out)).toEqual({ apiKey: 'eyJ.tok"en\\value', expires: '2026-12-03T10:00:00.000Z' });
  });

  it('an Authorization header line: plain text, nothing HTML-escaped', () => {
    const set = { ...single, data: { ...single.data, token: 'a&b<c>"d' } };
    expect(render('Authorization: {{ tokenType }} {{ token }}', templateValuesOf(set, KEYS))).toBe(
      'Authorization: Bearer a&b<c>"d',
    );
  });

  it('.netrc', () => {
    expect(render('machine api.example.com\nlogin oauth2\npassword {{ token }}\n')).toBe(
      'machine api.example.com\nlogin oauth2\npassword eyJ.tok"en\\value\n',
    );
  });

  it('a docker config.json: base64 of user:token inside JSON', () => {
    const out = render(
      '{"auths": {"registry.example.com": {"auth": {{ "oauth2:" | append: token | base64_encode | json }}}}}',
    );
    const auth = (JSON.parse(out) as { auths: Record<string, { auth: string }> }).auths[
      'registry.example.com'
    ];
    expect(Buffer.from(auth?.auth ?? '', 'base64').toString()).toBe('oauth2:eyJ.tok"en\\value');
  });

  it('Insights Hub: a JSON map of every tenant, and one tenant by id', () => {
    const tenants: TemplateValues = {
      ...values,
      token: undefined,
      tenants: {
        acme: { token: 'A"1', tokenType: 'Bearer', expiresAt: '2026-12-03T10:00:00.000Z' },
        'globex-eu': { token: 'G', tokenType: 'Bearer', expiresAt: '2026-12-03T10:00:00.000Z' },
      },
    };
    const map = render(
      '{ {%- for t in tenants %}{{ t[0] | json }}: {{ t[1].token | json }}{% unless forloop.last %}, {% endunless %}{%- endfor %} }',
      tenants,
    );
    expect(JSON.parse(map)).toEqual({ acme: 'A"1', 'globex-eu': 'G' });
    expect(render('{{ tenants | json }}', tenants)).toBe(JSON.stringify(tenants.tenants));
    expect(render('Bearer {{ tenants["globex-eu"].token }}', tenants)).toBe('Bearer G');
  });
});

describe('checkTemplates (before the provider is called)', () => {
  it('passes known variables, locals and every example', () => {
    expect(
      checkTemplates({
        'config.json': '{"t": {{ token | json }}}',
        header: 'Authorization: {{ tokenType }} {{ token }}',
        loop: '{% assign n = 0 %}{% for t in tenants %}{{ t[0] }}{{ n }}{% endfor %}{{ issuedAt }}',
      }),
    ).toBeUndefined();
    expect(checkTemplates(undefined)).toBeUndefined();
  });

  it('names the key and the unknown variable, and lists the known ones', () => {
    expect(checkTemplates({ 'config.json': '{"t": {{ acess_token | json }}}' })).toBe(
      'spec.secret.template["config.json"]: unknown variable "acess_token"; known: token, tokenType, expiresAt, issuedAt, data, tenants.',
    );
  });

  it.each([
    ['an unclosed tag', '{% if token %}x', 'tag {% if token %} not closed'],
    ['an unknown filter', '{{ token | shell }}', 'undefined filter: shell'],
    ['an unclosed output', '{{ token ', 'output "{{ token " not closed'],
  ])('refuses %s, naming the key', (_name, source, detail) => {
    const message = checkTemplates({ netrc: source });
    expect(message).toMatch(/^spec\.secret\.template\["netrc"\]: cannot parse the template: /);
    expect(message).toContain(detail);
  });

  it.each([
    ['include', '{% include "/etc/passwd" %}'],
    ['render', "{% render '/etc/passwd' %}"],
    ['layout', '{% layout "/etc/hostname" %}x'],
    ['include', '{%- include "../../../../etc/passwd" -%}'],
    ['include', '{% liquid\n include "/etc/passwd" %}'],
  ])('refuses the %s tag: templates reach no file', (tag, source) => {
    expect(checkTemplates({ x: source })).toContain(`tag "${tag}" not found`);
    const outcome = renderTemplates({ x: source }, values, []);
    expect(outcome.ok).toBe(false);
    expect(JSON.stringify(outcome)).not.toContain('root:');
  });
});

describe('renderTemplates', () => {
  it('refuses a variable the provider gave no value (tenants for oauth2), listing those it did', () => {
    expect(renderTemplates({ m: '{{ tenants | json }}' }, values, [])).toEqual({
      ok: false,
      message:
        'spec.secret.template["m"]: unknown variable "tenants"; known: token, tokenType, expiresAt, issuedAt, data.',
    });
  });

  it('refuses a tenant that has no token, listing the tenants', () => {
    const tenants: TemplateValues = {
      ...values,
      tenants: { acme: { token: 'A', tokenType: 'Bearer', expiresAt: 'x' } },
    };
    const outcome = renderTemplates({ h: '{{ tenants.globex.token }}' }, tenants, []);
    expect(outcome).toEqual({
      ok: false,
      message:
        'spec.secret.template["h"]: unknown variable "tenants.globex"; known: token, tokenType, expiresAt, issuedAt, data, tenants; tenants: acme.',
    });
  });

  it('reads own properties only: no prototype, no constructor', () => {
    for (const source of ['{{ token.constructor }}', '{{ tenants.__proto__ }}']) {
      const outcome = renderTemplates({ x: source }, { ...values, tenants: {} }, []);
      expect(outcome.ok, source).toBe(false);
    }
  });

  it('refuses a key the provider writes itself', () => {
    expect(renderTemplates({ tenants: 'x' }, values, ['tenants'])).toEqual({
      ok: false,
      message: 'spec.secret.template["tenants"]: the provider writes this key itself; choose another.',
    });
  });

  it('keeps token values out of a render error message', () => {
    const outcome = renderTemplates({ x: '{{ token | divided_by: 0 }}{{ 1 | plus: token }}' }, values, []);
    if (outcome.ok) return;
    expect(outcome.message).not.toContain('eyJ.tok');
  });

  it('stops a template that renders too long', () => {
    const source = '{% for a in (1..100000) %}{% for b in (1..100000) %}x{% endfor %}{% endfor %}';
    const started = Date.now();
    expect(renderTemplates({ x: source }, values, []).ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('consumerSecretData', () => {
  it('adds the rendered keys to the provider data', () => {
    const secret = apiCredentialSpecSchema.shape.secret.parse({
      template: { header: 'Authorization: {{ tokenType }} {{ token }}' },
    });
    expect(consumerSecretData(secret, single)).toEqual({
      ok: true,
      data: { ...single.data, header: 'Authorization: Bearer eyJ.tok"en\\value' },
    });
  });

  it('returns the provider data as it is without a template', () => {
    const secret = apiCredentialSpecSchema.shape.secret.parse({});
    expect(consumerSecretData(secret, single)).toEqual({ ok: true, data: single.data });
  });
});

describe('the spec schema', () => {
  const parse = (secret: unknown) => apiCredentialSpecSchema.shape.secret.safeParse(secret);

  it('refuses a template key that is one of spec.secret.keys', () => {
    expect(parse({ template: { token: 'x' } }).success).toBe(false);
    expect(parse({ keys: { token: 'access' }, template: { access: 'x' } }).success).toBe(false);
    expect(parse({ keys: { token: 'access' }, template: { token: 'x' } }).success).toBe(true);
  });

  it('refuses invalid Secret keys, too many keys, and too long templates', () => {
    expect(parse({ template: { 'a/b': 'x' } }).success).toBe(false);
    expect(parse({ template: { '': 'x' } }).success).toBe(false);
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, index) => [`k${index}`, 'x']));
    expect(parse({ template: many }).success).toBe(false);
    expect(parse({ template: { k: 'x'.repeat(8193) } }).success).toBe(false);
    expect(parse({ template: { 'config.json': '{}' } }).success).toBe(true);
  });
});
