/**
 * The HTTP status of a failed Kubernetes call. client-node reports it as `.code` on the typed APIs'
 * ApiException and as `.statusCode` on Watch errors; watch ERROR events carry a Status with `.code`.
 */
export function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { statusCode, code } = error as { statusCode?: unknown; code?: unknown };
  if (typeof statusCode === 'number') return statusCode;
  return typeof code === 'number' ? code : undefined;
}
