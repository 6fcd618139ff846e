// A KubeConfig whose API calls share one connection pool. client-node 2.0's
// applySecurityAuthentication builds a new undici Agent for every request of the generated clients,
// so every call paid a TLS handshake (and a new SecureContext) and left an idle socket behind: at a
// few thousand credentials that was most of the operator's CPU and memory (docs/benchmarks.md).
// Headers and TLS settings still come from client-node on every call, so token rotation and exec
// plugins work as before; only the connection pool is kept, and replaced when the TLS material changes.
import { createHash } from 'node:crypto';
import { KubeConfig, bufferFromFileOrString, type RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export class PooledKubeConfig extends KubeConfig {
  #shared: { material: string; dispatcher: Dispatcher } | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (fresh === undefined) return;
    const material = this.#tlsMaterial();
    if (this.#shared?.material === material) {
      context.setDispatcher(this.#shared.dispatcher);
      return;
    }
    // First call, or a rotated CA or client certificate: adopt this dispatcher; the old one finishes
    // the requests it carries and closes.
    const previous = this.#shared;
    this.#shared = { material, dispatcher: fresh };
    if (previous) void previous.dispatcher.close().catch(() => undefined);
  }

  /** Connections in the pool end; for a clean shutdown. */
  async closeConnections(): Promise<void> {
    const shared = this.#shared;
    this.#shared = undefined;
    await shared?.dispatcher.close();
  }

  /** A digest of everything client-node builds its dispatcher from. */
  #tlsMaterial(): string {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    const hash = createHash('sha256');
    for (const part of [
      cluster?.server,
      cluster?.proxyUrl,
      cluster?.tlsServerName,
      String(cluster?.skipTLSVerify),
      bufferFromFileOrString(cluster?.caFile, cluster?.caData),
      bufferFromFileOrString(user?.certFile, user?.certData),
      bufferFromFileOrString(user?.keyFile, user?.keyData),
    ])
      hash.update(part ?? '-').update('\0');
    return hash.digest('hex');
  }
}
