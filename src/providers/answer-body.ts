// Reading the body of a provider's answer: its JSON when it has some (error bodies often have none),
// the JSON object a success must be, and the field names to quote when that object lacks a token.
import type { HttpResponse } from '../http/client.ts';
import { ProviderError } from '../errors/failure.ts';

/** The body as JSON, or undefined when it is not JSON (an HTML error page, an empty body). */
export function parsedJson(response: Pick<HttpResponse, 'text'>): unknown {
  try {
    return JSON.parse(response.text) as unknown;
  } catch {
    return undefined;
  }
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A success body that must be a JSON object; otherwise the transient InvalidResponse saying what came. */
export function answeredObject(response: HttpResponse, what: string): Record<string, unknown> {
  // json() throws its own InvalidResponse, naming the content type, for a body that is not JSON.
  const body = response.json();
  if (isJsonObject(body)) return body;
  throw new ProviderError({
    kind: 'transient',
    reason: 'InvalidResponse',
    message: `${what} answered ${response.status} with JSON that is not an object.`,
  });
}

/** The first field names of an answer, for a message about what it lacks; never their values. */
export function fieldNames(body: object, max = 10): string {
  return Object.keys(body).slice(0, max).join(', ') || 'none';
}
