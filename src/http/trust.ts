// The trust store for one caBundleRef: Node's default store plus the bundle, never the bundle
// alone, so pointing one credential at a private CA does not stop public providers from verifying.
import { X509Certificate, createHash } from 'node:crypto';
import { getCACertificates } from 'node:tls';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The same bundle with different line endings or surrounding blanks is the same bundle. */
export function normalizePem(pem: string): string {
  return pem.replace(/\r\n?/g, '\n').trim();
}

export function pemHash(pem: string): string {
  return createHash('sha256').update(normalizePem(pem)).digest('hex');
}

export type TrustStore = { ok: true; ca: string[] } | { ok: false; problem: string };

/** Node's default CAs (bundled, NODE_EXTRA_CA_CERTS, and system ones under --use-system-ca) plus the bundle. */
export function trustStore(caPem: string): TrustStore {
  const blocks = normalizePem(caPem).match(PEM_BLOCK) ?? [];
  if (blocks.length === 0)
    return { ok: false, problem: 'it holds no PEM certificate (-----BEGIN CERTIFICATE-----)' };
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return {
        ok: false,
        problem: `certificate ${index + 1} of ${blocks.length} is not a valid X.509 certificate`,
      };
    }
  }
  return { ok: true, ca: [...getCACertificates('default'), ...blocks] };
}
