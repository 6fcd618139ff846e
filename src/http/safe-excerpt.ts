// A short piece of a provider's answer for an error message. The answer may hold a token even when
// it is not the JSON we expected (a form-encoded token response, a JWT echoed in an HTML page), so
// anything that looks like a credential is cut out before the text is shortened.
import { excerpt } from '../providers/errors.ts';

const JWT = /eyJ[\w-]{4,}\.[\w-]+\.[\w-]*/g;
const SECRET_FIELD =
  /\b([\w-]*(?:token|secret|password|passwd|assertion|api[_-]?key|session|cookie|authorization)[\w-]*)(["']?\s*[:=]\s*["']?)([^"'\s&,;<>{}]+)/gi;
const OPAQUE = /[A-Za-z0-9+/_=.-]{32,}/g;
const SCANNED = 4096;

export const REDACTED = '[redacted]';

export function safeExcerpt(text: string, contentType: string | undefined, max = 160): string {
  if (text.trim() === '') return '(empty body)';
  if (contentType?.toLowerCase().includes('application/x-www-form-urlencoded')) {
    return '(form-encoded body not shown)';
  }
  const cleaned = text
    .slice(0, SCANNED)
    .replace(JWT, REDACTED)
    .replace(SECRET_FIELD, `$1$2${REDACTED}`)
    .replace(OPAQUE, REDACTED);
  return excerpt(cleaned, max);
}
