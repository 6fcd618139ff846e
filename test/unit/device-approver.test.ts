import { describe, expect, it } from 'vitest';
import { parseForms } from '../keycloak/device-approver.ts';

// Shaped like Keycloak 26's login and consent templates (keycloak.v2 theme).
const LOGIN = `<form id="kc-form-login" onsubmit="login.disabled = true; return true;"
  action="http://127.0.0.1:8080/realms/r/login-actions/authenticate?session_code=abc&amp;execution=e1&amp;client_id=c&amp;tab_id=t"
  method="post" novalidate="novalidate">
  <input tabindex="1" id="username" name="username" value="" type="text" autofocus autocomplete="username" />
  <input tabindex="2" id="password" name="password" type="password" autocomplete="current-password" />
  <input type="hidden" id="id-hidden-input" name="credentialId"/>
  <input type="checkbox" id="rememberMe" name="rememberMe">
  <button class="pf-v5-c-button" name="login" id="kc-login" type="submit">Sign In</button>
</form>`;
const CONSENT = `<form class="form-actions" action="/realms/r/login-actions/consent?session_code=x&amp;tab_id=t" method="POST">
  <input type="hidden" name="code" value="k&#39;1">
  <input class="pf-v5-c-button" name="accept" id="kc-login" type="submit" value="Yes"/>
  <input class="pf-v5-c-button" name="cancel" id="kc-cancel" type="submit" value="No"/>
</form>`;

describe('parseForms', () => {
  it('reads the login form: decoded action, fields, an unchecked checkbox left out', () => {
    expect(parseForms(LOGIN, 'http://127.0.0.1:8080/realms/r/device')).toEqual([
      {
        action:
          'http://127.0.0.1:8080/realms/r/login-actions/authenticate?session_code=abc&execution=e1&client_id=c&tab_id=t',
        fields: { username: '', password: '', credentialId: '' },
        submits: { login: '' },
        inputNames: ['username', 'password', 'credentialId'],
      },
    ]);
  });

  it('resolves a relative action against the page and tells the submit buttons apart', () => {
    const [consent] = parseForms(CONSENT, 'http://127.0.0.1:8080/realms/r/login-actions/required-action?x=1');
    expect(consent?.action).toBe(
      'http://127.0.0.1:8080/realms/r/login-actions/consent?session_code=x&tab_id=t',
    );
    expect(consent?.fields).toEqual({ code: "k'1" });
    expect(consent?.submits).toEqual({ accept: 'Yes', cancel: 'No' });
  });
});
