// Requests per credential by verb and resource, from the audit counts ("patch secrets": 1000).
/** "get secrets 1.00, patch apicredentials/status 1.00, ..." largest first; kinds under `minimum` left out. */
export function requestsPerCredential(
  byKind: Readonly<Record<string, number>>,
  credentials: number,
  minimum = 0.01,
): string {
  if (credentials <= 0) return '-';
  const rows = Object.entries(byKind)
    .map(([kind, count]) => [kind, count / credentials] as const)
    .filter(([, perCredential]) => perCredential >= minimum)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return rows.length === 0 ? '-' : rows.map(([kind, value]) => `${kind} ${value.toFixed(2)}`).join(', ');
}
