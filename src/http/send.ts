// Runs one exchange on an undici dispatcher with our own handler, because the handler is where
// the facts we need are visible: whether the request reached a socket (onRequestStart), the
// response size as it streams, and a caller's abort before undici has a socket to abort.
import type { Dispatcher } from 'undici';
import { ProviderError } from '../errors/failure.ts';
import { BoundedBody } from './bounded-body.ts';
import type { PreparedRequest } from './request.ts';
import { normalizeHeaders, type RawResponse } from './response.ts';
import { TotalTimeoutError, transportError } from './transport-errors.ts';

export interface SendLimits {
  connectTimeoutMs: number;
  timeoutMs: number;
  maxResponseBytes: number;
  caConfigured: boolean;
}

function tooLarge(request: PreparedRequest, status: number, limit: number, read: number): ProviderError {
  return new ProviderError({
    kind: 'transient',
    reason: 'ResponseTooLarge',
    message:
      `${request.target} answered ${status} with a body over the ${limit}-byte limit ` +
      `(stopped after reading ${read} bytes); the provider may have acted on the request.`,
    httpStatus: status,
    outcomeUnknown: true,
  });
}

export function send(
  dispatcher: Dispatcher,
  request: PreparedRequest,
  limits: SendLimits,
  signal?: AbortSignal,
): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    if (signal?.aborted) {
      // The caller's reason as given (usually a DOMException), as fetch does.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      reject(signal.reason);
      return;
    }
    let controller: Dispatcher.DispatchController | undefined;
    let sent = false;
    let settled = false;
    let status = 0;
    let headers: Record<string, string> = {};
    const body = new BoundedBody(limits.maxResponseBytes);

    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    // Rejects now and stops the exchange; before onRequestStart there is nothing to abort yet,
    // and onRequestStart aborts instead of sending.
    const stop = (error: unknown): void => {
      if (!settle()) return;
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason may be any value
      reject(error);
      controller?.abort(error instanceof Error ? error : new Error('request cancelled'));
    };
    const fail = (error: unknown): void => {
      stop(
        transportError(error, {
          target: request.target,
          host: request.host,
          sent,
          connectTimeoutMs: limits.connectTimeoutMs,
          timeoutMs: limits.timeoutMs,
          caConfigured: limits.caConfigured,
        }),
      );
    };
    const onAbort = (): void => {
      stop(signal?.reason);
    };
    const timer = setTimeout(() => {
      fail(new TotalTimeoutError());
    }, limits.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(dispatchController) {
        controller = dispatchController;
        if (settled) dispatchController.abort(new Error('request cancelled before it was sent'));
        else sent = true;
      },
      onResponseStart(_controller, statusCode, responseHeaders) {
        if (settled || statusCode < 200) return;
        status = statusCode;
        headers = normalizeHeaders(responseHeaders);
        const declared = Number(headers['content-length']);
        if (declared > limits.maxResponseBytes) stop(tooLarge(request, status, limits.maxResponseBytes, 0));
      },
      onResponseData(_controller, chunk) {
        if (settled) return;
        if (!body.push(chunk)) stop(tooLarge(request, status, limits.maxResponseBytes, body.received));
      },
      onResponseEnd() {
        if (!settle()) return;
        const response = { status, headers, text: body.text() };
        // undici frees the socket for the next request one event-loop turn after the response ends
        // (setImmediate, queued after this callback returns). Resolving after that turn lets a
        // caller's next request (multi-step logins, tenant batches) reuse the kept-alive connection
        // instead of opening a new TLS connection beside it.
        queueMicrotask(() =>
          setImmediate(() => {
            resolve(response);
          }),
        );
      },
      onResponseError(_controller, error) {
        fail(error);
      },
    };
    try {
      dispatcher.dispatch(
        {
          origin: request.origin,
          path: request.path,
          method: request.method,
          headers: request.headers,
          body: request.body ?? null,
          // Our timer is the real limit; these only stop undici's own 300 s defaults.
          headersTimeout: limits.timeoutMs,
          bodyTimeout: limits.timeoutMs,
        },
        handler,
      );
    } catch (error) {
      fail(error);
    }
  });
}
