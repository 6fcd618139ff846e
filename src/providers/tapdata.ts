// TapData Data Service tokens: client credentials at POST {baseUrl}/oauth/token (seed 001).
// Quirks from the vendor notes: client_secret_post only (HTTP Basic fails with invalid_client for
// clients made in the UI), expires_in documented as a String but sent as a number, no refresh token,
// and JSON bodies only on builds from December 2025 on.
import { z } from 'zod';
import { caBundleRef, clientCredentialsRef, httpUrl } from '../api/fields.ts';
import { withMessage } from '../errors/failure.ts';
import { tokenEndpointError, tokenSetFromResponse } from './oauth-response.ts';
import { clientCredentialRefs, declareNeeds } from './references.ts';
import { defineProvider } from './definition.ts';
import type { InputReference, ProviderContext, ProviderNeeds, TokenProvider, TokenSet } from './types.ts';

export const tapdataSchema = z
  .object({
    baseUrl: httpUrl('TapData Manager (TM) base URL, for example http://tapdata:3030.'),
    credentialsRef: clientCredentialsRef,
    scopes: z
      .array(z.string().min(1).max(256))
      .max(64)
      .optional()
      .meta({ description: 'Role ids to request as scopes.' }),
    bodyFormat: z
      .enum(['form', 'json'])
      .default('form')
      .meta({ description: 'Token request body. json works only on TM builds from December 2025 on.' }),
    caBundleRef: caBundleRef.optional(),
  })
  .meta({ description: 'TapData Data Service client credentials (POST {baseUrl}/oauth/token).' });

export type TapdataSpec = z.output<typeof tapdataSchema>;

const FIELD = 'spec.provider.tapdata';

function refs(spec: TapdataSpec): { clientId: InputReference; clientSecret: InputReference } {
  return clientCredentialRefs(FIELD, spec.credentialsRef);
}

export function tokenUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/oauth/token`;
}

export class TapdataProvider implements TokenProvider<TapdataSpec> {
  readonly name = 'tapdata' as const;

  needs(spec: TapdataSpec): ProviderNeeds {
    return declareNeeds(this.name, this.inputs(spec), {
      endpoint: spec.baseUrl,
      caBundleRef: spec.caBundleRef,
    });
  }

  inputs(spec: TapdataSpec): InputReference[] {
    const { clientId, clientSecret } = refs(spec);
    return [clientId, clientSecret];
  }

  async obtain(spec: TapdataSpec, context: ProviderContext): Promise<TokenSet> {
    const r = refs(spec);
    const fields: Record<string, string> = {
      grant_type: 'client_credentials',
      client_id: context.inputs.require(r.clientId),
      client_secret: context.inputs.require(r.clientSecret),
    };
    if (spec.scopes?.length) fields.scope = spec.scopes.join(' ');
    const url = tokenUrl(spec.baseUrl);
    const startedAt = context.clock.now();
    const response = await context.http.request({
      method: 'POST',
      url,
      ...(spec.bodyFormat === 'json' ? { json: fields } : { form: fields }),
      headers: { accept: 'application/json' },
      signal: context.signal,
    });
    if (response.status !== 200) {
      const error = tokenEndpointError(response, url, `Secret ${spec.credentialsRef.name}`);
      // Builds before December 2025 do not read JSON bodies: they see no credentials at all.
      const sawNoCredentials =
        (response.status === 400 && error.reason === 'InvalidRequest') ||
        (response.status === 401 && response.text.trim() === '');
      if (spec.bodyFormat === 'json' && sawNoCredentials) {
        throw withMessage(
          error,
          `${error.message} This TapData Manager may predate JSON support: set ${FIELD}.bodyFormat: form.`,
        );
      }
      throw error;
    }
    return tokenSetFromResponse(response, url, context, startedAt);
  }
}

export const tapdataDefinition = defineProvider({
  name: 'tapdata',
  schema: tapdataSchema,
  create: () => new TapdataProvider(),
});
