// The ValidatingAdmissionPolicy that keeps an ApiCredential's references no wider than its creator's:
// whoever creates an ApiCredential or changes its spec must be allowed to `get` every object it names, or the operator
// would read that Secret with its own rights and send its values to the spec's URL. The reference
// fields are found in the registry's schemas (every `...Ref` object with a `name`), so a new provider's
// references are checked without a hand-kept list. `npm run generate` writes the chart template.
import { stringify } from 'yaml';
import type { ProviderDefinition } from '../providers/definition.ts';
import { PROVIDER_DEFINITIONS } from '../providers/definitions.ts';
import { stateSecretName } from '../secrets/state.ts';
import { GROUP, PLURAL } from './apicredential.ts';
import { openApiSchema } from './crd.ts';

type JsonSchema = Record<string, unknown>;

/** A spec field that names a Secret (or, with a `kind` field, a Secret or ConfigMap) in the namespace. */
export interface ReferenceField {
  /** Dotted path from the object root: "spec.provider.oauth2.credentialsRef". */
  path: string;
  /** Whether the field carries `kind: Secret | ConfigMap` (a CA bundle); otherwise it is a Secret. */
  kindField: boolean;
}

export interface Validation {
  expression: string;
  messageExpression: string;
  reason: 'Forbidden';
}

const STATE_SUFFIX = stateSecretName('');

function propertiesOf(schema: JsonSchema): Record<string, JsonSchema> {
  return (schema.properties ?? {}) as Record<string, JsonSchema>;
}

function isReference(key: string, schema: JsonSchema): boolean {
  return key.endsWith('Ref') && schema.type === 'object' && 'name' in propertiesOf(schema);
}

function collect(schema: JsonSchema, path: string, found: ReferenceField[]): void {
  if (schema.type === 'array' || schema.additionalProperties !== undefined) {
    const inner = JSON.stringify(schema.items ?? schema.additionalProperties ?? {});
    // A reference inside a list needs an all() over it: refuse loudly rather than skip it silently.
    if (/Ref"/.test(inner))
      throw new Error(`${path} holds references in a list or map; extend admission-policy.ts`);
    return;
  }
  for (const [key, child] of Object.entries(propertiesOf(schema))) {
    const childPath = `${path}.${key}`;
    if (isReference(key, child)) {
      found.push({ path: childPath, kindField: 'kind' in propertiesOf(child) });
    } else if (child.type === 'object' || child.type === 'array') {
      collect(child, childPath, found);
    }
  }
}

/** Every reference field of every provider of a registration list, in registration and schema order. */
export function referenceFieldsOf(definitions: readonly ProviderDefinition[]): ReferenceField[] {
  const found: ReferenceField[] = [];
  for (const definition of definitions) {
    collect(openApiSchema(definition.schema), `spec.provider.${definition.name}`, found);
  }
  return found;
}

/** `has()` for every step of a path below `root`: "has(object.spec) && has(object.spec.provider) ...". */
function present(root: string, path: string): string {
  const steps = path.split('.');
  return steps.map((_, index) => `has(${root}.${steps.slice(0, index + 1).join('.')})`).join(' && ');
}

/** A CEL string concatenation of literal text and CEL expressions ({ cel }), adjacent literals merged. */
function concat(parts: (string | { cel: string })[]): string {
  const merged: (string | { cel: string })[] = [];
  for (const part of parts) {
    const last = merged.at(-1);
    if (typeof part === 'string' && typeof last === 'string') merged[merged.length - 1] = last + part;
    else merged.push(part);
  }
  return merged
    .map((part) => (typeof part === 'string' ? `'${part.replace(/'/g, "\\'")}'` : part.cel))
    .join(' + ');
}

const NAMESPACE = 'object.metadata.namespace';

function allowedToGet(resource: string, name: string): string {
  return `authorizer.group('').resource(${resource}).namespace(${NAMESPACE}).name(${name}).check('get').allowed()`;
}

/** Refuses a reference the requester may not `get`; the policy's matchCondition says when it is asked. */
export function referenceValidation(field: ReferenceField): Validation {
  const now = `object.${field.path}`;
  const kindOf = (ref: string): string => `(has(${ref}.kind) ? ${ref}.kind : 'Secret')`;
  const resource = field.kindField ? `${kindOf(now)} == 'ConfigMap' ? 'configmaps' : 'secrets'` : `'secrets'`;
  const kind = field.kindField ? { cel: kindOf(now) } : 'Secret';
  const another = field.kindField
    ? { cel: `(${kindOf(now)} == 'ConfigMap' ? 'a ConfigMap' : 'a Secret')` }
    : 'a Secret';
  return {
    expression: `!(${present('object', field.path)}) || ${allowedToGet(`(${resource})`, `${now}.name`)}`,
    messageExpression: concat([
      `${field.path}: you may not get `,
      kind,
      ' "',
      { cel: `${now}.name` },
      '" in namespace "',
      { cel: NAMESPACE },
      '"; ask for get on it or reference ',
      another,
      ' you can read',
    ]),
    reason: 'Forbidden',
  };
}

/**
 * The state Secret is named after the credential: whoever sets the spec makes the operator use the
 * refresh token or session it holds, so it is checked like a reference.
 */
export function stateSecretValidation(): Validation {
  const name = `object.metadata.name + '${STATE_SUFFIX}'`;
  return {
    expression: allowedToGet(`'secrets'`, name),
    messageExpression: concat([
      'metadata.name: you may not get Secret "',
      { cel: name },
      '" in namespace "',
      { cel: NAMESPACE },
      `", where the operator keeps the state of this credential; ask for get on it or name the ApiCredential otherwise`,
    ]),
    reason: 'Forbidden',
  };
}

const SERVICE_ACCOUNT_TOKEN_PATH = 'spec.provider.oauth2.serviceAccountToken';

/**
 * clientAuth service_account_token makes the operator mint a token for the named ServiceAccount, with
 * an audience the spec chooses, and send it to the spec's URL: whoever sets it must be allowed to
 * create that token themselves (`create` on serviceaccounts/token), or the operator would hand out a
 * ServiceAccount's identity its requester does not hold.
 */
export function serviceAccountTokenValidation(): Validation {
  const name = `object.${SERVICE_ACCOUNT_TOKEN_PATH}.serviceAccountName`;
  return {
    expression: `!(${present('object', SERVICE_ACCOUNT_TOKEN_PATH)}) || authorizer.group('').resource('serviceaccounts').subresource('token').namespace(${NAMESPACE}).name(${name}).check('create').allowed()`,
    messageExpression: concat([
      `${SERVICE_ACCOUNT_TOKEN_PATH}.serviceAccountName: you may not create a token for ServiceAccount "`,
      { cel: name },
      '" in namespace "',
      { cel: NAMESPACE },
      '"; ask for create on serviceaccounts/token for it or name a ServiceAccount you may use',
    ]),
    reason: 'Forbidden',
  };
}

export function admissionValidations(
  definitions: readonly ProviderDefinition[] = PROVIDER_DEFINITIONS,
): Validation[] {
  return [...referenceFieldsOf(definitions).map(referenceValidation), stateSecretValidation()];
}

/**
 * Asked on create, and on an update only when the spec changes. Every spec change is checked, whoever
 * sends it: a new URL with the old reference would send that Secret's values elsewhere. An update
 * that leaves the spec as it is (the operator's finalizer patch, a label) hands nothing new to the
 * operator, so it passes without exempting any identity. The status subresource is not matched.
 */
export function admissionPolicySpec(
  definitions: readonly ProviderDefinition[] = PROVIDER_DEFINITIONS,
): JsonSchema {
  return {
    failurePolicy: 'Fail',
    matchConstraints: {
      resourceRules: [
        { apiGroups: [GROUP], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: [PLURAL] },
      ],
    },
    matchConditions: [
      {
        name: 'spec-set-or-changed',
        expression: "request.operation == 'CREATE' || object.spec != oldObject.spec",
      },
    ],
    validations: [...admissionValidations(definitions), serviceAccountTokenValidation()],
  };
}

/** Both objects as a Helm template, on unless admissionPolicy.enabled is false. */
export function renderAdmissionPolicyTemplate(header: string): string {
  const body = stringify({ spec: admissionPolicySpec() }, { lineWidth: 0 });
  if (body.includes('{{')) throw new Error('the admission policy contains "{{", which Helm would template');
  const metadata = [
    'metadata:',
    '  name: {{ include "apicred.fullname" . }}-references',
    '  labels:',
    '    {{- include "apicred.labels" . | nindent 4 }}',
  ];
  return [
    header.trimEnd(),
    '{{- if .Values.admissionPolicy.enabled }}',
    'apiVersion: admissionregistration.k8s.io/v1',
    'kind: ValidatingAdmissionPolicy',
    ...metadata,
    body.trimEnd(),
    '---',
    'apiVersion: admissionregistration.k8s.io/v1',
    'kind: ValidatingAdmissionPolicyBinding',
    ...metadata,
    'spec:',
    '  policyName: {{ include "apicred.fullname" . }}-references',
    '  validationActions: [Deny]',
    '{{- end }}',
    '',
  ].join('\n');
}
