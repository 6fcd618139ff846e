import { stringify } from 'yaml';
import { renderAdmissionPolicyTemplate } from './admission-policy.ts';
import { apiCredentialCrd } from './crd.ts';

const HEADER = '# Generated from src/api by `npm run generate`. Do not edit.\n';

/** The chart's CRD template: where it lives in the repository. */
export const CHART_CRD_TEMPLATE = 'deploy/apicred-operator/templates/crd-apicredentials.yaml';

/** The chart's ValidatingAdmissionPolicy, generated from the same registry as the CRD. */
export const CHART_ADMISSION_POLICY_TEMPLATE = 'deploy/apicred-operator/templates/admission-policy.yaml';

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text
    .trimEnd()
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

/**
 * The CRD as a Helm template. Templated rather than in crds/, which Helm installs once and never
 * upgrades (a new field would be pruned after `helm upgrade`); cert-manager's crds.enabled/crds.keep.
 */
export function renderChartCrdTemplate(): string {
  const crd = apiCredentialCrd() as {
    apiVersion: string;
    kind: string;
    metadata: { name: string; labels?: Record<string, string> };
    spec: unknown;
  };
  const body = stringify({ spec: crd.spec }, { lineWidth: 0 });
  // Go templates would read `{{` in a description as an action.
  if (body.includes('{{')) throw new Error('the CRD schema contains "{{", which Helm would template');
  const labels = stringify(crd.metadata.labels ?? {}, { lineWidth: 0 });
  return [
    HEADER.trimEnd(),
    '{{- if .Values.crds.enabled }}',
    `apiVersion: ${crd.apiVersion}`,
    `kind: ${crd.kind}`,
    'metadata:',
    `  name: ${crd.metadata.name}`,
    '  labels:',
    indent(labels, 4),
    '    app.kubernetes.io/managed-by: {{ .Release.Service }}',
    '    helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}',
    '  {{- if .Values.crds.keep }}',
    '  annotations:',
    '    # helm uninstall leaves the CRD, and with it every ApiCredential, in place.',
    '    helm.sh/resource-policy: keep',
    '  {{- end }}',
    body.trimEnd(),
    '{{- end }}',
    '',
  ].join('\n');
}

/** Every generated file, by path relative to the repository root. */
export function renderCrdFiles(): Record<string, string> {
  return {
    'crds/apicredentials.apicred.dev.yaml': HEADER + stringify(apiCredentialCrd(), { lineWidth: 0 }),
    [CHART_CRD_TEMPLATE]: renderChartCrdTemplate(),
    [CHART_ADMISSION_POLICY_TEMPLATE]: renderAdmissionPolicyTemplate(HEADER),
  };
}
