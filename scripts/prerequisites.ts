// What `npm run demo` and `npm test` need on this machine, built or installed once into the cache
// (`${APICRED_CACHE_DIR:-~/.cache/apicred-operator}`) and reused afterwards. Run on its own as
// `node scripts/prerequisites.ts`.
import { ensureControlPlaneBuilt } from '../test/controlplane/build.ts';
import { controlPlaneBinDir } from '../test/controlplane/paths.ts';
import { ensureHelmBuilt } from '../test/helm/build.ts';
import { ensureKeycloakInstalled, type KeycloakInstall } from '../test/keycloak/keycloak.ts';

export interface Prerequisites {
  controlPlaneBinDir: string;
  helmBinary: string;
  keycloak: KeycloakInstall;
}

/**
 * Builds the control plane and Helm from source and installs Keycloak, each only when missing or stale.
 * The demo reads the chart's RBAC through Helm and runs its Keycloak example against a real Keycloak, so
 * it needs all three, exactly as the test tiers do.
 */
export async function ensurePrerequisites(): Promise<Prerequisites> {
  // One after the other: each Go build already uses both cores, and Keycloak's first boot is CPU-bound.
  await ensureControlPlaneBuilt();
  const helmBinary = await ensureHelmBuilt();
  const keycloak = await ensureKeycloakInstalled();
  return { controlPlaneBinDir, helmBinary, keycloak };
}

if (import.meta.main) {
  try {
    process.stdout.write(`${JSON.stringify(await ensurePrerequisites())}\n`);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
