// What kubelet would run for a Deployment's first container: its args with $(VAR) expanded from its env,
// and the env with downward-API fields resolved for a pod name of our choosing. No kubelet runs here,
// so the tests start `node src/main.ts` with exactly this command line.
import type { V1Deployment } from '@kubernetes/client-node';

export interface PodCommand {
  args: string[];
  env: Record<string, string>;
}

/** Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, anything else stays. */
export function expandVariables(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) =>
    name === undefined ? '$' : (env[name] ?? match),
  );
}

export function podCommand(deployment: V1Deployment, podName: string): PodCommand {
  const namespace = deployment.metadata?.namespace;
  const container = deployment.spec?.template.spec?.containers[0];
  if (!namespace || !container) throw new Error('the Deployment has no namespace or no container');
  const fields: Record<string, string> = { 'metadata.namespace': namespace, 'metadata.name': podName };
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) {
      env[variable.name] = expandVariables(variable.value, env);
      continue;
    }
    const fieldPath = variable.valueFrom?.fieldRef?.fieldPath;
    const value = fieldPath === undefined ? undefined : fields[fieldPath];
    if (value === undefined) {
      throw new Error(
        `env ${variable.name}: only values and fieldRefs to ${Object.keys(fields).join(', ')} are resolved here`,
      );
    }
    env[variable.name] = value;
  }
  return { args: (container.args ?? []).map((arg) => expandVariables(arg, env)), env };
}
