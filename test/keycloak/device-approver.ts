// A browser-less user for Keycloak's device verification pages (RFC 8628 §3.3). It does what a person
// with a browser does: opens verification_uri_complete (or verification_uri, then types the user code),
// logs in on the login form, and answers the consent page with "Yes" or "No". Only plain HTTP with a
// cookie jar and form posts parsed from the HTML: no admin API, so Keycloak's own checks all run.
import { fetch } from 'undici';

export interface DeviceApproval {
  /** verification_uri_complete, or verification_uri together with userCode. */
  verificationUri: string;
  userCode?: string;
  username: string;
  password: string;
  /** "Yes" on the consent page when true, "No" when false. */
  approve: boolean;
}

/** Where the walk through the pages ended. */
export interface ApprovalOutcome {
  kind: 'approved' | 'denied' | 'failed';
  /** The requests made, as "METHOD /path" (no query: it carries session codes). */
  pages: string[];
  /** The title and message of the last page, or why the walk stopped. */
  message: string;
}

export interface HtmlForm {
  action: string;
  /** The form's own fields: hidden inputs and text inputs with their current values. */
  fields: Record<string, string>;
  /** Submit buttons (name → value), e.g. accept → "Yes", cancel → "No". */
  submits: Record<string, string>;
  inputNames: string[];
}

const MAX_PAGES = 12;

/** Cookies per name, for one loopback host: enough for Keycloak's session and restart cookies. */
class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key = '', val = ''] = attribute.split('=').map((part) => part.trim());
        return (
          (key.toLowerCase() === 'max-age' && Number(val) <= 0) ||
          (key.toLowerCase() === 'expires' && Date.parse(val) < Date.now())
        );
      });
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

interface Page {
  url: string;
  status: number;
  html: string;
}

/** A minimal browser: follows redirects itself so that every Set-Cookie on the way lands in the jar. */
class Browser {
  readonly #jar = new CookieJar();
  readonly visited: string[] = [];

  async open(url: string, form?: Record<string, string>): Promise<Page> {
    let method = form ? 'POST' : 'GET';
    let body: URLSearchParams | undefined = form ? new URLSearchParams(form) : undefined;
    let current = url;
    for (let hop = 0; hop < MAX_PAGES; hop++) {
      this.visited.push(`${method} ${new URL(current).pathname}`);
      const response = await fetch(current, {
        method,
        redirect: 'manual',
        headers: {
          cookie: this.#jar.header(),
          accept: 'text/html',
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body,
      });
      this.#jar.store(response.headers.getSetCookie());
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.arrayBuffer();
        current = new URL(location, current).toString();
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url: current, status: response.status, html: await response.text() };
    }
    throw new Error(`more than ${MAX_PAGES} redirects from ${url}`);
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number(entity.slice(1)));
    return ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

function attributes(tag: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const match of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?/g)) {
    const [, name = '', raw] = match;
    const value = raw === undefined ? '' : raw.replace(/^["']|["']$/g, '');
    found[name.toLowerCase()] = decodeEntities(value);
  }
  return found;
}

/**
 * The forms on a page. Keycloak's templates are regular HTML (FreeMarker output), so a tag-level scan
 * finds the action and the inputs without a DOM library.
 */
export function parseForms(html: string, pageUrl: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const formAttributes = attributes(match[1] ?? '');
    const form: HtmlForm = {
      action: new URL(formAttributes.action ?? pageUrl, pageUrl).toString(),
      fields: {},
      submits: {},
      inputNames: [],
    };
    for (const input of (match[2] ?? '').matchAll(/<(input|button)\b([^>]*)>/gi)) {
      const tag = (input[1] ?? '').toLowerCase();
      const attrs = attributes(input[2] ?? '');
      const name = attrs.name;
      if (name === undefined) continue;
      const type = (attrs.type ?? (tag === 'button' ? 'submit' : 'text')).toLowerCase();
      if (type === 'submit') form.submits[name] = attrs.value ?? '';
      else if (type !== 'checkbox' || 'checked' in attrs) {
        form.fields[name] = attrs.value ?? '';
        form.inputNames.push(name);
      }
    }
    forms.push(form);
  }
  return forms;
}

/** The title and the feedback (error or info) text of a Keycloak page, for a readable outcome. */
function pageMessage(html: string): string {
  const title = /<title>([\s\S]*?)<\/title>/i.exec(html)?.[1]?.trim() ?? '';
  const feedback = [
    /class="[^"]*kc-feedback-text[^"]*"[^>]*>([^<]*)</i,
    /class="[^"]*instruction[^"]*"[^>]*>([^<]*)</i,
  ]
    .map((pattern) => pattern.exec(html)?.[1]?.trim() ?? '')
    .find((text) => text !== '');
  return decodeEntities([title, feedback].filter(Boolean).join(': ')).replace(/\s+/g, ' ');
}

/** Walks Keycloak's verification pages as the user would; never throws for what Keycloak answered. */
export async function approveDevice(request: DeviceApproval): Promise<ApprovalOutcome> {
  const browser = new Browser();
  let page = await browser.open(request.verificationUri);
  for (let step = 0; step < MAX_PAGES; step++) {
    const forms = parseForms(page.html, page.url);
    const codeForm = forms.find((form) => 'device_user_code' in form.fields);
    const loginForm = forms.find((form) => 'username' in form.fields && 'password' in form.fields);
    const consentForm = forms.find((form) => 'accept' in form.submits && 'cancel' in form.submits);
    if (codeForm) {
      if (request.userCode === undefined) {
        return {
          kind: 'failed',
          pages: browser.visited,
          message: `asked for the user code: ${pageMessage(page.html)}`,
        };
      }
      page = await browser.open(codeForm.action, { ...codeForm.fields, device_user_code: request.userCode });
      // The code form again means Keycloak did not take the code (unknown or expired).
      if (parseForms(page.html, page.url).some((form) => 'device_user_code' in form.fields)) {
        return {
          kind: 'failed',
          pages: browser.visited,
          message: `user code refused: ${pageMessage(page.html)}`,
        };
      }
    } else if (loginForm) {
      page = await browser.open(loginForm.action, {
        ...loginForm.fields,
        username: request.username,
        password: request.password,
      });
      // The same login form again means Keycloak refused the credentials.
      const again = parseForms(page.html, page.url).some((form) => 'password' in form.fields);
      if (again)
        return {
          kind: 'failed',
          pages: browser.visited,
          message: `login refused: ${pageMessage(page.html)}`,
        };
    } else if (consentForm) {
      const button = request.approve ? 'accept' : 'cancel';
      page = await browser.open(consentForm.action, {
        ...consentForm.fields,
        [button]: consentForm.submits[button] ?? '',
      });
      return outcome(page, request.approve, browser.visited);
    } else {
      return {
        kind: 'failed',
        pages: browser.visited,
        message: `no form to go on with: ${pageMessage(page.html)}`,
      };
    }
  }
  return { kind: 'failed', pages: browser.visited, message: `gave up after ${MAX_PAGES} pages` };
}

function outcome(page: Page, approve: boolean, pages: string[]): ApprovalOutcome {
  const message = pageMessage(page.html);
  if (page.status !== 200) return { kind: 'failed', pages, message: `HTTP ${page.status}: ${message}` };
  // Keycloak shows a failure (an expired or already used code) in a danger alert on a 200 page.
  if (approve && page.html.includes('pf-m-danger')) return { kind: 'failed', pages, message };
  return { kind: approve ? 'approved' : 'denied', pages, message };
}
