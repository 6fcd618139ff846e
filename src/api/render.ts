import { stringify } from 'yaml';
import { apiCredentialCrd } from './crd.ts';

const HEADER = '# Generated from src/api by `npm run generate`. Do not edit.\n';

/** Every generated file, by path relative to the repository root. */
export function renderCrdFiles(): Record<string, string> {
  const crd = HEADER + stringify(apiCredentialCrd(), { lineWidth: 0 });
  // The chart carries its own copy so that `helm install` works from a packaged chart.
  return {
    'crds/apicredentials.apicred.dev.yaml': crd,
    'deploy/apicred-operator/crds/apicredentials.apicred.dev.yaml': crd,
  };
}
