// Replaces known secret values in text: log lines, event and status messages. Values are matched by
// the rolling hash of their last characters (token headers are shared, signatures are not) and
// verified by a digest, so a scan costs one hash step per character whatever the number of values,
// and memory per value is a few digests, not copies of the value in all its encodings.
// Only credentials are registered (the controller never registers client ids or user names), so a
// registered value of any length is redacted: a 5-character password is still a password. Values
// shorter than the hash window are matched as whole words, not inside longer ones, because a short
// string occurs by chance inside ordinary text far more often than a long one.
// Identity (the credential's namespace and name, the Secret names in its spec) can be kept: a match
// inside one of the texts passed to scrub() as `keep` stays, so a secret equal to a name (or one
// credential's secret equal to another's name) never erases which object a line is about.
import { hash } from 'node:crypto';

export const REDACTED = '[redacted]';

/** Forms at least this long are matched anywhere in the text; shorter ones as whole words. */
export const MIN_SUBSTRING_LENGTH = 6;

// Base64 fragments shorter than this are too likely to occur by chance in other base64 text.
const MIN_BASE64_FRAGMENT = 8;
const WINDOW = MIN_SUBSTRING_LENGTH;
const BASE = 0x01000193;
const WINDOW_POW = pow32(BASE, WINDOW - 1);
const ANONYMOUS = '';

// Shapes that are credentials whether or not anyone registered them.
const JWT = /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/g;
const AUTH_SCHEME = /\b(Bearer|Basic)(\s+)[\w.~+/=-]{16,}/gi;
// Query strings and form bodies: `?client_secret=...`, `&password=...`.
const CREDENTIAL_PARAM =
  /([?&;\s"']|^)(access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password|token|api_key)=([^&#\s"'\\]+)/gi;

// The index holds per form five small integers (no string, no nested collection) and per value a
// few arrays: a Set or a Map costs hundreds of bytes even with one entry, and nearly every value has
// one owner and every owner a few values.
interface Form {
  /** Rolling hash of the form's last WINDOW characters. */
  key: number;
  length: number;
  /** The first 64 bits of the form's SHA-256, as two int32 (small integers: no heap object each). */
  digestHigh: number;
  digestLow: number;
  /** Registrations using this form (the index holds one object per distinct form). */
  count: number;
}

interface Registration {
  owners: string[];
  forms: Form[];
  /** Forms shorter than WINDOW, matched as whole words. */
  short: readonly string[];
}

const NONE: readonly string[] = Object.freeze([]);

export interface SecretRedactorOptions {
  /**
   * Also redact what looks like a credential although nobody registered it: JWTs, `Bearer`/`Basic`
   * credentials, `client_secret=` and similar parameters. Default true.
   */
  shapes?: boolean;
}

export class SecretRedactor {
  // suffix hash -> the form (or, rarely, forms) ending that way. One small object per distinct form,
  // shared with the registrations using it, not nested Maps (several hundred bytes per form).
  #index = new Map<number, Form | Form[]>();
  #values = new Map<string, Registration>();
  #byOwner = new Map<string, string[]>();
  // Short form -> registrations using it; the pattern is rebuilt when the set changes.
  #short = new Map<string, number>();
  #shortPattern: RegExp | undefined;
  #shapes: boolean;

  constructor(options: SecretRedactorOptions = {}) {
    this.#shapes = options.shapes ?? true;
  }

  /** Number of distinct values registered. */
  get size(): number {
    return this.#values.size;
  }

  /**
   * Registers a value (and its base64, URL- and JSON-encoded forms) for redaction on behalf of
   * `owner`. Idempotent per owner; a value stays registered while any owner holds it.
   * Returns false for an empty or blank value, which is not registered.
   */
  add(value: string, owner: string = ANONYMOUS): boolean {
    if (value.trim().length === 0) return false;
    const id = digest(value);
    let registration = this.#values.get(id);
    if (registration === undefined) {
      const { long, short } = formsOf(value);
      registration = {
        owners: [],
        forms: long.map((form) => this.#retainForm(form)),
        short: short.length > 0 ? short : NONE,
      };
      for (const form of short) this.#retainShort(form);
      this.#values.set(id, registration);
    }
    if (!registration.owners.includes(owner)) registration.owners.push(owner);
    const owned = this.#byOwner.get(owner);
    if (owned === undefined) this.#byOwner.set(owner, [id]);
    else if (!owned.includes(id)) owned.push(id);
    return true;
  }

  /**
   * With `owner`: drops that owner's hold; the value is forgotten once no owner holds it.
   * Without: forgets the value outright (a rotated-out token).
   */
  remove(value: string, owner?: string): void {
    const id = digest(value);
    const owners = owner === undefined ? [...(this.#values.get(id)?.owners ?? NONE)] : [owner];
    for (const holder of owners) this.#release(id, holder);
  }

  /** Makes `values` exactly what `owner` holds: rotated-out values are forgotten. */
  replace(owner: string, values: Iterable<string>): void {
    const keep = new Set<string>();
    for (const value of values) {
      if (this.add(value, owner)) keep.add(digest(value));
    }
    for (const id of [...(this.#byOwner.get(owner) ?? NONE)]) {
      if (!keep.has(id)) this.#release(id, owner);
    }
  }

  /** Forgets everything `owner` holds (a deleted credential). */
  forget(owner: string): void {
    for (const id of [...(this.#byOwner.get(owner) ?? NONE)]) this.#release(id, owner);
  }

  /**
   * The text with every registered value, in any registered encoding, replaced by REDACTED, except
   * where a match lies inside an occurrence of one of the `keep` texts (object names: identity).
   */
  scrub(text: string, keep: readonly string[] = []): string {
    let out = this.#index.size === 0 && this.#short.size === 0 ? text : this.#scrubValues(text, keep);
    if (this.#shapes) {
      out = out
        .replace(JWT, REDACTED)
        .replace(AUTH_SCHEME, `$1$2${REDACTED}`)
        .replace(CREDENTIAL_PARAM, `$1$2=${REDACTED}`);
    }
    return out;
  }

  #scrubValues(text: string, keep: readonly string[]): string {
    // Match intervals [start, end); overlapping ones are merged below.
    const starts: number[] = [];
    const ends: number[] = [];
    this.#matchLong(text, starts, ends);
    this.#matchShort(text, starts, ends);
    if (starts.length === 0) return text;
    if (keep.length > 0) dropKept(text, keep, starts, ends);
    if (starts.length === 0) return text;
    return replaceIntervals(text, starts, ends);
  }

  #matchShort(text: string, starts: number[], ends: number[]): void {
    if (this.#short.size === 0) return;
    this.#shortPattern ??= wordPattern([...this.#short.keys()]);
    for (const match of text.matchAll(this.#shortPattern)) {
      starts.push(match.index);
      ends.push(match.index + match[0].length);
    }
  }

  #matchLong(text: string, starts: number[], ends: number[]): void {
    const n = text.length;
    if (n < WINDOW || this.#index.size === 0) return;
    let h = 0;
    for (let i = 0; i < WINDOW; i++) h = (Math.imul(h, BASE) + text.charCodeAt(i)) | 0;
    for (let end = WINDOW; ; end++) {
      const indexed = this.#index.get(h);
      if (indexed !== undefined) {
        let checked: Map<number, Buffer> | undefined;
        for (const form of Array.isArray(indexed) ? indexed : [indexed]) {
          const start = end - form.length;
          if (start < 0) continue;
          checked ??= new Map();
          let actual = checked.get(form.length);
          if (actual === undefined) {
            actual = sha256(text.slice(start, end));
            checked.set(form.length, actual);
          }
          if (actual.readInt32BE(0) === form.digestHigh && actual.readInt32BE(4) === form.digestLow) {
            starts.push(start);
            ends.push(end);
          }
        }
      }
      if (end === n) break;
      h =
        (Math.imul(h - Math.imul(text.charCodeAt(end - WINDOW), WINDOW_POW), BASE) + text.charCodeAt(end)) |
        0;
    }
  }

  #release(id: string, owner: string): void {
    const registration = this.#values.get(id);
    const owned = this.#byOwner.get(owner);
    if (owned !== undefined) {
      removeItem(owned, id);
      if (owned.length === 0) this.#byOwner.delete(owner);
    }
    if (registration === undefined) return;
    removeItem(registration.owners, owner);
    if (registration.owners.length > 0) return;
    this.#values.delete(id);
    for (const form of registration.forms) this.#releaseForm(form);
    for (const form of registration.short) this.#releaseShort(form);
  }

  #retainShort(form: string): void {
    const count = this.#short.get(form) ?? 0;
    this.#short.set(form, count + 1);
    if (count === 0) this.#shortPattern = undefined;
  }

  #releaseShort(form: string): void {
    const count = (this.#short.get(form) ?? 0) - 1;
    if (count > 0) {
      this.#short.set(form, count);
      return;
    }
    this.#short.delete(form);
    this.#shortPattern = undefined;
  }

  /** The indexed form equal to `form` with one more user, indexing `form` if it is new. */
  #retainForm(form: Form): Form {
    const indexed = this.#index.get(form.key);
    const forms = indexed === undefined ? [] : Array.isArray(indexed) ? indexed : [indexed];
    const same = forms.find(
      (other) =>
        other.length === form.length &&
        other.digestHigh === form.digestHigh &&
        other.digestLow === form.digestLow,
    );
    if (same !== undefined) {
      same.count += 1;
      return same;
    }
    form.count = 1;
    this.#index.set(form.key, indexed === undefined ? form : [...forms, form]);
    return form;
  }

  #releaseForm(form: Form): void {
    form.count -= 1;
    if (form.count > 0) return;
    const indexed = this.#index.get(form.key);
    if (indexed === undefined) return;
    const rest = (Array.isArray(indexed) ? indexed : [indexed]).filter((other) => other !== form);
    if (rest.length === 0) this.#index.delete(form.key);
    else this.#index.set(form.key, rest.length === 1 ? (rest[0] ?? rest) : rest);
  }
}

/** Everything a value may look like in a log line, an event, or a request excerpt. */
function formsOf(value: string): { long: Form[]; short: string[] } {
  const texts = new Set([value, value.trim()].filter((t) => t.trim().length > 0));
  const forms = new Set<string>();
  for (const text of texts) {
    forms.add(text);
    forms.add(JSON.stringify(text).slice(1, -1));
    forms.add(encodeURIComponent(text));
    forms.add(new URLSearchParams([['', text]]).toString().slice(1));
    const bytes = Buffer.from(text, 'utf8');
    forms.add(bytes.toString('base64'));
    // Inside a longer base64 string (Basic id:secret) the value starts at any byte offset mod 3;
    // only the characters it fully determines are stable.
    for (let shift = 0; shift < 3; shift++) {
      const aligned = bytes.subarray(shift, shift + Math.floor((bytes.length - shift) / 3) * 3);
      const fragment = aligned.toString('base64');
      if (fragment.length >= MIN_BASE64_FRAGMENT) forms.add(fragment);
    }
  }
  // A short value's aligned base64 fragments are too short to tell from chance and were skipped
  // above; inside a longer base64 string (Basic id:secret) it is caught by the Basic shape.
  const all = [...forms].filter((form) => form.length > 0);
  return {
    long: all
      .filter((form) => form.length >= WINDOW)
      .map((form) => {
        const bytes = sha256(form);
        return {
          key: suffixHash(form),
          length: form.length,
          digestHigh: bytes.readInt32BE(0),
          digestLow: bytes.readInt32BE(4),
          count: 0,
        };
      }),
    short: all.filter((form) => form.length < WINDOW),
  };
}

/** Any of `forms` not touching a letter or digit on either side; longest first. */
function wordPattern(forms: string[]): RegExp {
  const alternatives = [...forms]
    .sort((a, b) => b.length - a.length)
    .map((form) => form.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}])`, 'gu');
}

/** Removes the matches that lie inside an occurrence of a kept text. */
function dropKept(text: string, keep: readonly string[], starts: number[], ends: number[]): void {
  const kept: [number, number][] = [];
  for (const name of keep) {
    if (name.length === 0) continue;
    for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1))
      kept.push([at, at + name.length]);
  }
  if (kept.length === 0) return;
  let write = 0;
  for (let i = 0; i < starts.length; i++) {
    const start = starts[i] ?? 0;
    const end = ends[i] ?? 0;
    if (kept.some(([from, to]) => from <= start && end <= to)) continue;
    starts[write] = start;
    ends[write] = end;
    write++;
  }
  starts.length = write;
  ends.length = write;
}

function replaceIntervals(text: string, starts: number[], ends: number[]): string {
  const order = starts.map((_, i) => i).sort((a, b) => (starts[a] ?? 0) - (starts[b] ?? 0));
  let out = '';
  let cursor = 0;
  let openStart = -1;
  let openEnd = -1;
  for (const i of order) {
    const start = starts[i] ?? 0;
    const end = ends[i] ?? 0;
    if (openEnd >= start) {
      openEnd = Math.max(openEnd, end);
      continue;
    }
    if (openStart >= 0) {
      out += text.slice(cursor, openStart) + replacement(text, openStart, openEnd);
      cursor = openEnd;
    }
    openStart = start;
    openEnd = end;
  }
  out += text.slice(cursor, openStart) + replacement(text, openStart, openEnd);
  return out + text.slice(openEnd);
}

// A short numeric secret can equal a bare JSON number in a log line (`"failures":1234,`): quote the
// replacement there, so that the line stays valid JSON.
function replacement(text: string, start: number, end: number): string {
  const bareValue = text[start - 1] === ':' && /^[,}\]]$/.test(text[end] ?? '');
  return bareValue ? `"${REDACTED}"` : REDACTED;
}

function suffixHash(form: string): number {
  let h = 0;
  for (let i = form.length - WINDOW; i < form.length; i++) h = (Math.imul(h, BASE) + form.charCodeAt(i)) | 0;
  return h;
}

function sha256(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}

// 128 bits of SHA-256 as a short flat string: the key of a registered value.
function digest(text: string): string {
  return sha256(text).toString('base64', 0, 16);
}

/** Removes one occurrence of `item` (arrays of a few entries: cheaper than a Set). */
function removeItem(items: string[], item: string): void {
  const at = items.indexOf(item);
  if (at >= 0) items.splice(at, 1);
}

function pow32(base: number, exponent: number): number {
  let result = 1;
  for (let i = 0; i < exponent; i++) result = Math.imul(result, base);
  return result;
}
