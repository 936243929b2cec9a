/**
 * Vault's GCP auth method: roles of type "iam" and "gce", login with a Google-signed JWT.
 *
 * What a real Vault does and the local one mirrors (messages as Vault words them, status 400):
 * - the JWT's signature: by one of Google's own keys (identity tokens from the metadata server),
 *   or, for iam roles, by a key of the service account named in `sub` (what signJwt uses). The
 *   local Vault knows only the keys registered with auth/<mount>/local/key/<kid> (jwt-keys.ts):
 *   without `owner` a key plays Google's key, with `owner` it is that service account's key;
 * - `exp` present, not past (60 s leeway) and at most 60 min ahead; `sub` present; every `aud`
 *   ending in "vault/<role>";
 * - iam roles: `exp` within the role's max_jwt_exp (default 900 s) unless the token carries GCE
 *   claims (allowed with allow_gce_inference, the default); the account in bound_service_accounts
 *   ("*" for any), by email or unique id, and its project in bound_projects when set;
 * - gce roles: the token's google.compute_engine claims (project, zone, instance), checked
 *   against bound_projects, bound_zones and bound_regions.
 * Where a real Vault asks Google's IAM and Compute APIs (does the account exist, its project, the
 * instance's labels and groups), the local one reads the token: the project is the one in the
 * account's email (<name>@<project>.iam.gserviceaccount.com), an identity token's `email` claim
 * names the account. Roles with bound_labels or bound_instance_groups are refused.
 *
 * Operation names: gcp.login, gcp.role, gcp.key.
 */
import { RoleBackend, showTokenParams, tokenParams, type TokenParams } from "./auth.ts";
import { audiences, LocalKeys } from "./jwt-keys.ts";
import type { Handler, RequestContext } from "./model.ts";
import {
  badRequest,
  boolParam,
  durationParam,
  isObject,
  listParam,
  newUuid,
  stringParam,
  unsupportedOperation,
  type Json,
  type Operation,
  type Result,
} from "./wire.ts";

interface GcpRole {
  token: TokenParams;
  roleId: string;
  type: "iam" | "gce";
  serviceAccounts: string[];
  projects: string[];
  zones: string[];
  regions: string[];
  /** Seconds. */
  maxJwtExp: number;
  allowGceInference: boolean;
}

const EXP_LEEWAY_S = 60;
const MAX_JWT_EXP_S = 3600;
const DEFAULT_MAX_JWT_EXP_S = 900;
const SERVICE_ACCOUNT_EMAIL = /^[^@]+@([a-z][a-z0-9-]*)\.iam\.gserviceaccount\.com$/;

export class GcpAuthBackend extends RoleBackend<GcpRole> {
  protected readonly kind = "gcp";
  private readonly keys = new LocalKeys();

  protected parseRole(d: Json, prev: GcpRole | undefined): GcpRole {
    const type = stringParam(d, "type", prev?.type ?? "");
    if (type === "") throw badRequest("role type cannot be empty");
    if (prev && prev.type !== type) throw badRequest("role type cannot be changed for an existing role");
    if (type !== "iam" && type !== "gce") throw badRequest(`role type "${type}" is invalid`);
    const list = (field: string, fallback: string[] = []) =>
      d[field] !== undefined ? listParam(d, field) : fallback;
    for (const unsupported of ["bound_labels", "bound_instance_groups"]) {
      const v = d[unsupported];
      if (
        v !== undefined &&
        (Array.isArray(v) ? v.length > 0 : isObject(v) ? Object.keys(v).length > 0 : v !== "")
      )
        throw badRequest(`the local Vault cannot check ${unsupported} (it does not call the Compute API)`);
    }
    const role: GcpRole = {
      token: tokenParams(d, prev?.token),
      roleId: prev?.roleId ?? newUuid(),
      type,
      serviceAccounts: list("bound_service_accounts", prev?.serviceAccounts),
      projects: list("bound_projects", prev?.projects),
      zones: list("bound_zones", prev?.zones),
      regions: list("bound_regions", prev?.regions),
      maxJwtExp:
        d.max_jwt_exp !== undefined
          ? durationParam(d, "max_jwt_exp")
          : (prev?.maxJwtExp ?? DEFAULT_MAX_JWT_EXP_S),
      allowGceInference: boolParam(d, "allow_gce_inference", prev?.allowGceInference ?? true),
    };
    if (type === "iam" && role.serviceAccounts.length === 0)
      throw badRequest("IAM role type must have at least one service account");
    if (role.maxJwtExp > MAX_JWT_EXP_S) throw badRequest("max_jwt_exp cannot be more than 60 minutes");
    return role;
  }

  protected showRole(r: GcpRole): Json {
    return {
      role_id: r.roleId,
      type: r.type,
      bound_service_accounts: r.serviceAccounts,
      bound_projects: r.projects,
      bound_zones: r.zones,
      bound_regions: r.regions,
      max_jwt_exp: r.maxJwtExp,
      allow_gce_inference: r.allowGceInference,
      add_group_aliases: false,
      ...showTokenParams(r.token),
    };
  }

  protected extraRoute(op: Operation, subPath: string): Handler | undefined {
    if (subPath === "login") {
      if (op !== "create" && op !== "update") throw unsupportedOperation();
      return { name: "gcp.login", unauthenticated: true, run: (ctx) => this.login(ctx) };
    }
    return this.keys.route(this.kind, op, subPath);
  }

  private login(ctx: RequestContext): Result {
    const roleName = stringParam(ctx.data, "role");
    if (roleName === "") throw badRequest("role is required");
    const role = this.roles.get(roleName);
    if (!role) throw badRequest(`role "${roleName}" not found`);
    const jwt = stringParam(ctx.data, "jwt");
    if (jwt === "") throw badRequest("jwt argument is required");
    // Google's keys sign for anyone; a service account's key only for that account, on iam roles.
    const claims = this.keys.verify(
      jwt,
      (owner, unverified) => owner === "" || (role.type === "iam" && owner === unverified.sub),
    );
    checkBaseClaims(claims, roleName);
    const compute = gceClaims(claims);
    return role.type === "iam"
      ? this.iamLogin(ctx, role, roleName, claims, compute)
      : this.gceLogin(ctx, role, roleName, claims, compute);
  }

  private iamLogin(
    ctx: RequestContext,
    role: GcpRole,
    roleName: string,
    claims: Json,
    compute?: Json,
  ): Result {
    if (compute && !role.allowGceInference)
      throw badRequest(`Got GCE token but IAM role "${roleName}" does not allow GCE inference`);
    if (!compute && Number(claims.exp) > Date.now() / 1000 + role.maxJwtExp) {
      throw badRequest(`role requires that service account JWTs expire within ${role.maxJwtExp} seconds`);
    }
    const account = accountOf(claims);
    const project = SERVICE_ACCOUNT_EMAIL.exec(account.email)?.[1] ?? "";
    if (role.projects.length > 0 && !role.projects.includes(project))
      throw badRequest(
        `service account "${account.email}" not in bound projects [${role.projects.join(" ")}]`,
      );
    const bound =
      (role.serviceAccounts.length === 1 && role.serviceAccounts[0] === "*") ||
      role.serviceAccounts.includes(account.email) ||
      role.serviceAccounts.includes(account.id);
    if (!bound)
      throw badRequest(`service account ${account.email} (id: ${account.id}) is not authorized for role`);
    return this.issue(ctx, role, account.email, {
      role: roleName,
      service_account_email: account.email,
      service_account_id: account.id,
      project_id: project,
    });
  }

  private gceLogin(
    ctx: RequestContext,
    role: GcpRole,
    roleName: string,
    claims: Json,
    compute?: Json,
  ): Result {
    if (!compute) throw badRequest("expected JWT to have claims with GCE metadata");
    const field = (name: string): string => {
      const v = compute[name];
      if (typeof v !== "string" && typeof v !== "number") throw badRequest(`expected '${name}' field`);
      return String(v);
    };
    const project = field("project_id");
    const zone = field("zone");
    const instance = field("instance_id");
    const instanceName = field("instance_name");
    const region = zone.replace(/-[a-z]$/, "");
    if (role.projects.length > 0 && !role.projects.includes(project))
      throw badRequest(
        `instance "${instance}" (project "${project}") not in bound projects [${role.projects.join(" ")}]`,
      );
    if (role.zones.length > 0 && !role.zones.includes(zone))
      throw badRequest(`instance "${instanceName}" is not in bound zones [${role.zones.join(" ")}]`);
    if (role.regions.length > 0 && !role.regions.includes(region))
      throw badRequest(`instance "${instanceName}" is not in bound regions [${role.regions.join(" ")}]`);
    const account = accountOf(claims);
    const anyAccount = role.serviceAccounts.length === 0 || role.serviceAccounts.includes("*");
    if (
      !anyAccount &&
      !role.serviceAccounts.includes(account.email) &&
      !role.serviceAccounts.includes(account.id)
    )
      throw badRequest(`service account "${account.email}" is not in bound service accounts`);
    return this.issue(ctx, role, instanceName, {
      role: roleName,
      service_account_email: account.email,
      service_account_id: account.id,
      project_id: project,
      project_number: String(compute.project_number ?? ""),
      zone,
      instance_id: instance,
      instance_name: instanceName,
      instance_creation_timestamp: String(compute.instance_creation_timestamp ?? ""),
    });
  }
}

/** Vault's checks on every GCP login JWT. */
function checkBaseClaims(claims: Json, roleName: string): void {
  const now = Date.now() / 1000;
  const exp = claims.exp;
  if (typeof exp !== "number" || exp < now - EXP_LEEWAY_S)
    throw badRequest("JWT is expired or does not have proper 'exp' claim");
  if (exp - now > MAX_JWT_EXP_S + EXP_LEEWAY_S) throw badRequest("JWT must expire in 60 minutes");
  if (typeof claims.sub !== "string" || claims.sub === "")
    throw badRequest("expected JWT to have 'sub' claim with service account id or email");
  const suffix = `vault/${roleName}`;
  if (!audiences(claims.aud).every((a) => a.endsWith(suffix)))
    throw badRequest(`at least one of the JWT claim 'aud' must end in "${suffix}"`);
}

function gceClaims(claims: Json): Json | undefined {
  const google = claims.google;
  const compute = isObject(google) ? google.compute_engine : undefined;
  return isObject(compute) && compute.instance_id ? compute : undefined;
}

/** signJwt tokens name the account by email in `sub`; identity tokens by unique id, with `email`. */
function accountOf(claims: Json): { email: string; id: string } {
  const sub = String(claims.sub);
  if (sub.includes("@")) return { email: sub, id: "" };
  return { email: typeof claims.email === "string" ? claims.email : "", id: sub };
}
