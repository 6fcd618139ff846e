// The HttpResponse handed to providers: any status is an answer, not an error.
import { ProviderError } from '../errors/failure.ts';
import { excerpt, safeExcerpt } from '../errors/excerpt.ts';
import { parseRetryAfter } from './retry-after.ts';
import type { HttpResponse } from './types.ts';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Lower-case names; repeated headers (undici gives arrays) joined as RFC 9110 §5.3 allows. */
export function normalizeHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const text = Array.isArray(value) ? value.join(', ') : value;
    result[key] = key in result ? `${result[key] ?? ''}, ${text}` : text;
  }
  return result;
}

export function createResponse(raw: RawResponse, target: string, now: () => number = Date.now): HttpResponse {
  let parsed: { value: unknown } | undefined;
  return {
    status: raw.status,
    headers: raw.headers,
    text: raw.text,
    json() {
      if (parsed) return parsed.value;
      try {
        parsed = { value: JSON.parse(raw.text) as unknown };
      } catch {
        // No cause: V8's SyntaxError quotes the body, which may hold a token.
        const type = excerpt(raw.headers['content-type'] ?? 'no content type', 80);
        throw new ProviderError({
          kind: 'transient',
          reason: 'InvalidResponse',
          message: `${target} answered ${raw.status} (${type}) with a body that is not JSON: ${safeExcerpt(raw.text, raw.headers['content-type'])}`,
          httpStatus: raw.status,
        });
      }
      return parsed.value;
    },
    retryAfterMs() {
      return parseRetryAfter(raw.headers['retry-after'], now());
    },
  };
}
