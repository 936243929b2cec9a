/**
 * Vault's Azure auth method: login with a managed identity's access token.
 *
 * Configuration (auth/<mount>/config): tenant_id and resource, both required for logins. Roles:
 * bound_service_principal_ids, bound_group_ids (one of them specific), bound_subscription_ids,
 * bound_resource_groups, bound_scale_sets, and the usual token_* parameters.
 *
 * What a real Vault does and the local one mirrors. Token checks, as Vault's OIDC verifier makes
 * them (failures are 500, as Vault answers them): an RS256 signature by a key of the tenant
 * (locally: a key registered with auth/<mount>/local/key/<kid>, see jwt-keys.ts), issuer
 * https://sts.windows.net/<tenant_id>/, audience equal to `resource`, not expired, not before
 * `nbf`. Then the role: the token's `oid` in bound_service_principal_ids (or its `groups` in
 * bound_group_ids). When the role binds subscriptions, resource groups or scale sets, the login
 * must name subscription_id and resource_group_name and one of vmss_name, vm_name or resource_id,
 * and the identity must belong to that resource. A real Vault asks Azure Resource Manager which
 * identities the resource has; the local Vault reads the token instead: a vm/vmss name must
 * appear in its xms_az_rid or xms_mirid claim (as Vault also checks), and a resource_id must equal
 * one of them (case-insensitive). bound_locations needs Resource Manager and is refused.
 * Malformed login fields are 400.
 *
 * Operation names: azure.login, azure.config, azure.role, azure.key.
 */
import { RoleBackend, showTokenParams, tokenParams, type TokenParams } from "./auth.ts";
import { audiences, LocalKeys } from "./jwt-keys.ts";
import type { Handler, RequestContext } from "./model.ts";
import {
  badRequest,
  listParam,
  noContent,
  notFound,
  stringParam,
  unsupportedOperation,
  VaultApiError,
  type Json,
  type Operation,
  type Result,
} from "./wire.ts";

interface AzureRole {
  token: TokenParams;
  servicePrincipals: string[];
  groups: string[];
  subscriptions: string[];
  resourceGroups: string[];
  scaleSets: string[];
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RESOURCE_GROUP = /^[-\w._()]+$/;
const NAME = /^[-\w._]+$/;

/** Vault returns token and identity failures of this method as errors, which its HTTP layer turns into 500. */
const failed = (message: string) => new VaultApiError(500, [message]);
const containsInsensitive = (a: string, b: string) => a !== "" && a.toLowerCase().includes(b.toLowerCase());

export class AzureAuthBackend extends RoleBackend<AzureRole> {
  protected readonly kind = "azure";
  private readonly keys = new LocalKeys();
  private config: { tenantId: string; resource: string } | undefined;

  protected parseRole(d: Json, prev: AzureRole | undefined): AzureRole {
    const list = (field: string, fallback: string[] = []) =>
      d[field] !== undefined ? listParam(d, field) : fallback;
    if (list("bound_locations").length > 0)
      throw badRequest("the local Vault cannot check bound_locations (it does not call Resource Manager)");
    return {
      token: tokenParams(d, prev?.token),
      servicePrincipals: list("bound_service_principal_ids", prev?.servicePrincipals),
      groups: list("bound_group_ids", prev?.groups),
      subscriptions: list("bound_subscription_ids", prev?.subscriptions),
      resourceGroups: list("bound_resource_groups", prev?.resourceGroups),
      scaleSets: list("bound_scale_sets", prev?.scaleSets),
    };
  }

  protected showRole(r: AzureRole): Json {
    return {
      bound_service_principal_ids: r.servicePrincipals,
      bound_group_ids: r.groups,
      bound_subscription_ids: r.subscriptions,
      bound_resource_groups: r.resourceGroups,
      bound_scale_sets: r.scaleSets,
      bound_locations: [],
      ...showTokenParams(r.token),
    };
  }

  protected extraRoute(op: Operation, subPath: string): Handler | undefined {
    const write = op === "create" || op === "update";
    if (subPath === "login") {
      if (!write) throw unsupportedOperation();
      return { name: "azure.login", unauthenticated: true, run: (ctx) => this.login(ctx) };
    }
    if (subPath !== "config") return this.keys.route(this.kind, op, subPath);
    if (op === "read") {
      return {
        name: "azure.config",
        run: () => {
          if (!this.config) throw notFound();
          return {
            data: { tenant_id: this.config.tenantId, resource: this.config.resource, environment: "" },
          };
        },
      };
    }
    if (op === "delete") return { name: "azure.config", run: () => ((this.config = undefined), noContent()) };
    if (!write) throw unsupportedOperation();
    return {
      name: "azure.config",
      run: (ctx) => {
        const tenantId = stringParam(ctx.data, "tenant_id", this.config?.tenantId ?? "");
        const resource = stringParam(ctx.data, "resource", this.config?.resource ?? "");
        if (tenantId === "") throw badRequest("tenant_id is required");
        if (resource === "") throw badRequest("resource is required");
        this.config = { tenantId, resource };
        return noContent();
      },
    };
  }

  private login(ctx: RequestContext): Result {
    const d = ctx.data;
    const jwt = stringParam(d, "jwt");
    if (jwt === "") throw badRequest("jwt is required");
    const roleName = stringParam(d, "role");
    if (roleName === "") throw badRequest("role is required");
    const role = this.roles.get(roleName);
    if (!role) throw badRequest(`invalid role name "${roleName}"`);
    const login = {
      subscriptionId: stringParam(d, "subscription_id"),
      resourceGroup: stringParam(d, "resource_group_name"),
      vmName: stringParam(d, "vm_name"),
      vmssName: stringParam(d, "vmss_name"),
      resourceId: stringParam(d, "resource_id"),
    };
    if (login.subscriptionId !== "" && !GUID.test(login.subscriptionId))
      throw badRequest(`invalid subscription id "${login.subscriptionId}"`);
    if (login.resourceGroup !== "" && !RESOURCE_GROUP.test(login.resourceGroup))
      throw badRequest(`invalid resource group name "${login.resourceGroup}"`);
    if (login.vmssName !== "" && !NAME.test(login.vmssName))
      throw badRequest(`invalid vmss_name "${login.vmssName}"`);
    if (login.vmName !== "" && !NAME.test(login.vmName))
      throw badRequest(`invalid vm name "${login.vmName}"`);
    if (!this.config)
      throw failed("unable to retrieve backend configuration: tenant_id and resource are not set");

    let claims: Json;
    try {
      claims = this.keys.verify(jwt);
    } catch (err) {
      throw failed(
        `failed to verify signature: ${err instanceof VaultApiError ? err.errors.join("; ") : "error"}`,
      );
    }
    this.checkToken(claims);
    checkRole(claims, role);
    checkResource(claims, role, login);

    const oid = String(claims.oid ?? "");
    const meta: Record<string, string> = {
      role: roleName,
      resource_group_name: login.resourceGroup,
      subscription_id: login.subscriptionId,
    };
    if (login.vmName) meta.vm_name = login.vmName;
    if (login.vmssName) meta.vmss_name = login.vmssName;
    if (login.resourceId) meta.resource_id = login.resourceId;
    if (typeof claims.appid === "string" && claims.appid !== "") meta.app_id = claims.appid;
    return this.issue(ctx, role, oid, meta);
  }

  /** The OIDC verifier's claim checks: issuer, audience, expiry, not-before. */
  private checkToken(claims: Json): void {
    const { tenantId, resource } = this.config!;
    const issuer = `https://sts.windows.net/${tenantId}/`;
    if (claims.iss !== issuer)
      throw failed(
        `oidc: id token issued by a different provider, expected "${issuer}" got "${String(claims.iss)}"`,
      );
    if (!audiences(claims.aud).includes(resource))
      throw failed(`oidc: expected audience "${resource}" got ${JSON.stringify(audiences(claims.aud))}`);
    const now = Date.now() / 1000;
    if (typeof claims.exp !== "number" || claims.exp < now) throw failed("oidc: token is expired");
    if (typeof claims.nbf === "number" && claims.nbf > now) throw failed("token is not yet valid");
  }
}

function checkRole(claims: Json, role: AzureRole): void {
  const wildcard = (l: string[]) => l.length === 1 && l[0] === "*";
  const sp = role.servicePrincipals;
  const groups = role.groups;
  if ((wildcard(sp) && wildcard(groups)) || (sp.length === 0 && groups.length === 0))
    throw failed(
      "expected specific bound_group_ids or bound_service_principal_ids; both cannot be empty or '*'",
    );
  const oid = String(claims.oid ?? "");
  if (sp.length > 0 && !wildcard(sp) && !sp.includes(oid))
    throw failed(`service principal not authorized: ${oid}`);
  const tokenGroups = audiences(claims.groups);
  if (groups.length > 0 && !wildcard(groups) && !tokenGroups.some((g) => groups.includes(g)))
    throw failed(`groups not authorized: [${tokenGroups.join(" ")}]`);
}

function checkResource(
  claims: Json,
  role: AzureRole,
  login: {
    subscriptionId: string;
    resourceGroup: string;
    vmName: string;
    vmssName: string;
    resourceId: string;
  },
): void {
  if (role.resourceGroups.length + role.subscriptions.length + role.scaleSets.length === 0) return;
  if (login.subscriptionId === "" || login.resourceGroup === "")
    throw failed("subscription_id and resource_group_name are required");
  const rid = String(claims.xms_az_rid ?? "");
  const mirid = String(claims.xms_mirid ?? "");
  const inClaims = (pattern: string, what: string): void => {
    if (rid === "" && mirid === "") throw failed("xms_az_rid and xms_mirid claims are missing from token");
    if (!containsInsensitive(rid, pattern) && !containsInsensitive(mirid, pattern))
      throw failed(`xms_az_rid and xms_mirid token claims do not match ${what}`);
  };
  if (login.vmssName !== "") {
    const flexible = `/virtualMachines/${login.vmssName}_`;
    if (!containsInsensitive(rid, flexible) && !containsInsensitive(mirid, flexible))
      inClaims(`/virtualMachineScaleSets/${login.vmssName}`, `vmss_name ${login.vmssName}`);
    if (role.scaleSets.length > 0 && !role.scaleSets.includes(login.vmssName))
      throw failed("scale set not authorized");
  } else if (login.vmName !== "") {
    inClaims(`/virtualMachines/${login.vmName}`, `vm_name ${login.vmName}`);
    if (role.scaleSets.length > 0) throw failed("bound scale set defined but this vm isn't in a scale set");
  } else if (login.resourceId !== "") {
    if (role.scaleSets.length > 0) throw failed("scale set requires the vmss_name field to be set");
    const id = login.resourceId.toLowerCase();
    if (id !== rid.toLowerCase() && id !== mirid.toLowerCase())
      throw failed("token object id does not match expected identities, and no app id was found");
  } else {
    throw failed(
      "one of vm_name, vmss_name or resource_id must be provided (the local Vault cannot match app ids)",
    );
  }
  if (login.vmName === "" && login.vmssName === "") {
    const rg = login.resourceGroup.toLowerCase();
    if (!login.resourceId.toLowerCase().includes(`/resourcegroups/${rg}/`))
      throw failed("provided resource_id does not match resource_group_name");
  } else inClaims(`/resourcegroups/${login.resourceGroup}`, `resource_group_name ${login.resourceGroup}`);
  if (role.subscriptions.length > 0 && !role.subscriptions.includes(login.subscriptionId))
    throw failed("subscription not authorized");
  if (role.resourceGroups.length > 0 && !role.resourceGroups.includes(login.resourceGroup))
    throw failed("resource group not authorized");
}
