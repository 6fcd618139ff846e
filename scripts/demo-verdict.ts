// How `npm run demo -- --duration N` decides its exit code: every credential must be Ready at the end.
import { type ApiCredential } from '../src/api/apicredential.ts';

/** One line per credential that is not Ready now, naming it, its Ready reason and message; [] when all are. */
export function notReadyCredentials(credentials: ApiCredential[], everReady: ReadonlySet<string>): string[] {
  if (credentials.length === 0) return ['no ApiCredential exists in the demo namespace'];
  return credentials
    .filter((credential) => readyCondition(credential)?.status !== 'True')
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((credential) => {
      const ready = readyCondition(credential);
      const state = ready
        ? `Ready=${ready.status} ${ready.reason ?? ''}${ready.message ? `: ${ready.message}` : ''}`
        : 'no Ready condition yet';
      const history = everReady.has(credential.metadata.name) ? 'was Ready earlier' : 'never became Ready';
      return `${credential.metadata.name} (${credential.status?.provider ?? 'unknown provider'}): ${state} (${history})`;
    });
}

/** Names of the credentials that are Ready now, to remember which ones ever were. */
export function readyNames(credentials: ApiCredential[]): string[] {
  return credentials.filter((c) => readyCondition(c)?.status === 'True').map((c) => c.metadata.name);
}

function readyCondition(
  credential: ApiCredential,
): { status: string; reason?: string; message?: string } | undefined {
  return credential.status?.conditions?.find((condition) => condition.type === 'Ready');
}
