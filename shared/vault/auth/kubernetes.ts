import { VaultInvalidError } from "../types.ts";
import { readCredentialFile, trimSlashes, type VaultAuth } from "./types.ts";

export const DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export interface KubernetesAuthOptions {
  role: string;
  /** Service-account token; read at every login because projected tokens rotate. */
  tokenFile?: string;
  /** Mount path of the Kubernetes method; default "kubernetes". */
  mount?: string;
}

/** Kubernetes auth: POST auth/<mount>/login with the role and the pod's service-account JWT. */
export function kubernetesAuth(options: KubernetesAuthOptions): VaultAuth {
  if (options.role === "") throw new VaultInvalidError("kubernetes auth: role is empty");
  const mount = trimSlashes(options.mount ?? "kubernetes");
  const tokenFile = options.tokenFile ?? DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE;
  return {
    method: "kubernetes",
    async login(client) {
      const jwt = await readCredentialFile(tokenFile, "service-account token");
      return client.login(mount, { role: options.role, jwt });
    },
  };
}
