// Turns the zod schema into a structural OpenAPI v3 schema and the CustomResourceDefinition object.
import { z } from 'zod';
import {
  CATEGORIES,
  GROUP,
  KIND,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
  apiCredentialSpecSchema,
  apiCredentialStatusSchema,
} from './apicredential.ts';

type JsonSchema = Record<string, unknown>;

const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function isIntOrString(variants: unknown[]): boolean {
  const types = variants.map((variant) => (variant as JsonSchema).type).sort();
  return types.length === 2 && types[0] === 'integer' && types[1] === 'string';
}

/** Rewrites what JSON Schema allows but a structural CRD schema does not. */
export function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (node === null || typeof node !== 'object') return node;
  const input = node as JsonSchema;
  const output: JsonSchema = {};
  for (const [key, value] of Object.entries(input)) {
    if (key === '$schema' || key === 'id') continue;
    if ((key === 'minimum' || key === 'maximum') && SAFE_INTEGER_BOUNDS.has(value as number)) continue;
    if (key === 'anyOf' && Array.isArray(value) && isIntOrString(value)) {
      output['x-kubernetes-int-or-string'] = true;
      continue;
    }
    if (key === 'anyOf' || key === 'oneOf' || key === 'allOf' || key === 'not' || key === '$ref') {
      throw new Error(`the CRD schema cannot express "${key}"; restructure the zod schema`);
    }
    output[key] = key === 'x-kubernetes-validations' ? value : toStructural(value);
  }
  return output;
}

export function openApiSchema(schema: z.ZodType): JsonSchema {
  return toStructural(
    z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' }),
  ) as JsonSchema;
}

/** The CRD for the built-in providers, or for the spec schema of another registration list (a test's). */
export function apiCredentialCrd(specSchema: z.ZodType = apiCredentialSpecSchema): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      labels: {
        'app.kubernetes.io/name': 'apicred-operator',
        'app.kubernetes.io/part-of': 'apicred-operator',
      },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: SHORT_NAMES,
        categories: CATEGORIES,
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          // One glance tells healthy from failing and when the token runs out. Times are strings, not
          // `date`: kubectl prints a future date as <invalid> and a past one as an age.
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
            { name: 'Expires', type: 'string', jsonPath: '.status.expiresAt' },
            {
              name: 'Next Renewal',
              type: 'string',
              description: 'Next renewal or retry; <none> while the operator waits for an input to change.',
              jsonPath: '.status.nextRefreshTime',
            },
            {
              name: 'Approve',
              type: 'string',
              description: 'Device authorization grant: the page where a person approves the login.',
              jsonPath: '.status.userApproval.url',
            },
            { name: 'Provider', type: 'string', priority: 1, jsonPath: '.status.provider' },
            { name: 'Secret', type: 'string', priority: 1, jsonPath: '.status.secretName' },
            { name: 'Failures', type: 'integer', priority: 1, jsonPath: '.status.consecutiveFailures' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'ApiCredential keeps a short-lived API token from a provider fresh in a Secret.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: openApiSchema(specSchema),
                status: openApiSchema(apiCredentialStatusSchema),
              },
            },
          },
        },
      ],
    },
  };
}
