// A per-route script of misbehaviours, consumed in order: what a flaky network, proxy or server does
// to a client. The emulator applies them (see emulator.ts); this module only queues them and builds
// the canned bodies.
import { json, retryAfterValue, text, type Reply } from './http.ts';

export type Fault =
  /** Hold the request this long, then answer normally. */
  | { kind: 'delay'; ms: number }
  /** Answer with this status instead of running the route; a string body is sent as text/plain. */
  | {
      kind: 'status';
      status: number;
      body?: unknown;
      headers?: Record<string, string>;
      /** Seconds (delta form) or a Date (HTTP-date form). */
      retryAfter?: number | Date;
    }
  /** A body that claims to be JSON and is not. With `commit`, the route runs first. */
  | { kind: 'invalid-json'; status?: number; commit?: boolean }
  /** Content-Length larger than what is sent, then the connection closes. With `commit`, the route runs
   * first and its own reply is cut short. */
  | { kind: 'truncated'; status?: number; commit?: boolean }
  /** An HTML error page such as a proxy returns (default 502). With `commit`, the route runs first. */
  | { kind: 'html'; status?: number; commit?: boolean }
  /** TCP reset before any response; the route does not run. */
  | { kind: 'reset' }
  /** The route runs (tokens issued, refresh token consumed) and the socket is then destroyed, so the
   * client never sees the answer. */
  | { kind: 'commit-then-drop' };

export type FaultKind = Fault['kind'];

export interface FaultOptions {
  /** How many consecutive requests this fault applies to. Default 1; Infinity for "from now on". */
  times?: number;
  /** Wait this long (real ms) before applying the fault. */
  delayMs?: number;
}

export type ScriptedFault = Fault & FaultOptions;

/** Matches every route; used after the route's own queue is empty. */
export const ANY_ROUTE = '*';

interface Entry {
  fault: ScriptedFault;
  remaining: number;
}

export class FaultScript {
  #queues = new Map<string, Entry[]>();

  /** Queue a fault for a route such as `POST /oauth/token` (or `*`). */
  push(route: string, fault: ScriptedFault): this {
    const times = fault.times ?? 1;
    if (!(times > 0)) throw new Error(`fault times must be positive, got ${times}`);
    const queue = this.#queues.get(route) ?? [];
    queue.push({ fault, remaining: times });
    this.#queues.set(route, queue);
    return this;
  }

  /** The next fault for this route, consuming one use of it. */
  take(route: string): ScriptedFault | undefined {
    return this.#takeFrom(route) ?? this.#takeFrom(ANY_ROUTE);
  }

  /** Uses left for a route (or all routes); Infinity when an endless fault is queued. */
  pending(route?: string): number {
    const queues = route === undefined ? [...this.#queues.values()] : [this.#queues.get(route) ?? []];
    return queues.flat().reduce((sum, entry) => sum + entry.remaining, 0);
  }

  clear(route?: string): void {
    if (route === undefined) this.#queues.clear();
    else this.#queues.delete(route);
  }

  #takeFrom(route: string): ScriptedFault | undefined {
    const queue = this.#queues.get(route);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    head.remaining -= 1;
    if (head.remaining <= 0) queue.shift();
    if (queue.length === 0) this.#queues.delete(route);
    return head.fault;
  }
}

export function statusFaultReply(fault: Extract<Fault, { kind: 'status' }>): Reply {
  const headers: Record<string, string> = { ...fault.headers };
  if (fault.retryAfter !== undefined) headers['retry-after'] = retryAfterValue(fault.retryAfter);
  if (fault.body === undefined) return { status: fault.status, headers, body: '' };
  if (typeof fault.body === 'string') {
    const type = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
    return type
      ? { status: fault.status, headers, body: fault.body }
      : text(fault.status, fault.body, undefined, headers);
  }
  return json(fault.status, fault.body, headers);
}

export function invalidJsonReply(status = 200): Reply {
  return text(status, '{"access_token": "eyJhbGciOi', 'application/json');
}

export function htmlReply(status = 502): Reply {
  const title = `${status} ${status === 502 ? 'Bad Gateway' : status === 503 ? 'Service Unavailable' : 'Error'}`;
  return text(
    status,
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
    'text/html',
  );
}

/** Used by a non-committing truncated fault: looks like a token response, is cut in the middle. */
export function cannedTruncatedReply(status = 200): Reply {
  return json(status, {
    access_token: 'truncated.'.repeat(20),
    token_type: 'Bearer',
    expires_in: 3600,
  });
}
