import { VaultInvalidError } from "../types.ts";
import { fetchIdentityJson, stringField } from "./identity-http.ts";
import { trimSlashes, type VaultAuth } from "./types.ts";

/**
 * Logs in to Vault as the Azure managed identity the code runs as, with nothing stored: the
 * token comes from the platform's identity endpoint at every login.
 *
 * Token source, as @azure/identity picks it:
 *   App Service and Azure Functions  GET $IDENTITY_ENDPOINT?resource=..&api-version=2019-08-01
 *                                     with header X-IDENTITY-HEADER: $IDENTITY_HEADER
 *   elsewhere (VMs, scale sets)       IMDS: GET http://169.254.169.254/metadata/identity/oauth2/token
 *                                     ?api-version=2018-02-01&resource=.. with header Metadata: true
 *                                     (host from AZURE_POD_IDENTITY_AUTHORITY_HOST when set)
 * A user-assigned identity is chosen with `clientId`; otherwise the system-assigned one is used.
 *
 * Login:
 *   azure  (Vault's Azure method) POST auth/<mount>/login {role, jwt, subscription_id,
 *          resource_group_name, and vm_name, vmss_name or resource_id}. Vault verifies the token
 *          (issuer https://sts.windows.net/<tenant>/, audience = the mount's `resource`), checks
 *          the token's object id against the role's bound_service_principal_ids, and, when the
 *          role binds subscriptions, resource groups, locations or scale sets, asks Azure whether
 *          that identity belongs to the named resource. On Functions, give the function app's
 *          resource id; subscription and resource group are read from it.
 *   jwt    (Vault's JWT/OIDC method) POST auth/<mount>/login {role, jwt}, for a role bound to the
 *          token's audience and issuer.
 */
export interface AzureAuthOptions {
  role: string;
  /** Default "azure". */
  method?: "azure" | "jwt";
  /** Mount path; default "azure", or "jwt" for method jwt. */
  mount?: string;
  /** The token's audience; default https://management.azure.com/ (the Azure method's default `resource`). */
  resource?: string;
  /** Client id of a user-assigned identity; default the system-assigned identity. */
  clientId?: string;
  /** azure: the resource the identity is attached to, /subscriptions/<id>/resourceGroups/<rg>/providers/... */
  resourceId?: string;
  vmName?: string;
  vmssName?: string;
  /** azure: default from `resourceId`. */
  subscriptionId?: string;
  resourceGroupName?: string;
  /** Default process.env (IDENTITY_ENDPOINT, IDENTITY_HEADER, AZURE_POD_IDENTITY_AUTHORITY_HOST). */
  env?: Record<string, string | undefined>;
}

const DEFAULT_RESOURCE = "https://management.azure.com/";
const DEFAULT_IMDS = "http://169.254.169.254";
const RESOURCE_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\//i;

export function azureAuth(options: AzureAuthOptions): VaultAuth {
  if (options.role === "") throw new VaultInvalidError("azure auth: role is empty");
  const method = options.method ?? "azure";
  const mount = trimSlashes(options.mount ?? method);
  const resource = options.resource ?? DEFAULT_RESOURCE;
  const fromId = options.resourceId ? RESOURCE_ID.exec(options.resourceId) : undefined;
  if (options.resourceId && !fromId) {
    throw new VaultInvalidError(
      "azure auth: resourceId must look like /subscriptions/<id>/resourceGroups/<name>/providers/...",
    );
  }
  const where: Record<string, string> = {};
  const subscription = options.subscriptionId ?? fromId?.[1];
  const group = options.resourceGroupName ?? fromId?.[2];
  if (subscription) where.subscription_id = subscription;
  if (group) where.resource_group_name = group;
  if (options.vmssName) where.vmss_name = options.vmssName;
  else if (options.vmName) where.vm_name = options.vmName;
  else if (options.resourceId) where.resource_id = options.resourceId;

  async function token(): Promise<string> {
    const env = options.env ?? process.env;
    const endpoint = env.IDENTITY_ENDPOINT;
    const header = env.IDENTITY_HEADER;
    const query = new URLSearchParams({
      resource,
      ...(options.clientId ? { client_id: options.clientId } : {}),
    });
    let url: string, headers: Record<string, string>, what: string;
    if (endpoint && header) {
      query.set("api-version", "2019-08-01");
      url = `${endpoint}?${query}`;
      headers = { "X-IDENTITY-HEADER": header };
      what = "azure auth: the App Service identity endpoint (IDENTITY_ENDPOINT)";
    } else {
      query.set("api-version", "2018-02-01");
      const imds = (env.AZURE_POD_IDENTITY_AUTHORITY_HOST || DEFAULT_IMDS).replace(/\/+$/, "");
      url = `${imds}/metadata/identity/oauth2/token?${query}`;
      headers = { Metadata: "true" };
      what = "azure auth: the instance metadata service (IMDS)";
    }
    return stringField(await fetchIdentityJson(url, { what, headers }), "access_token", what);
  }

  return {
    method: method === "jwt" ? "azure-jwt" : "azure",
    async login(client) {
      const jwt = await token();
      return client.login(
        mount,
        method === "jwt" ? { role: options.role, jwt } : { role: options.role, jwt, ...where },
      );
    },
  };
}
