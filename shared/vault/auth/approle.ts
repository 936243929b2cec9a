import { VaultInvalidError } from "../types.ts";
import { trimSlashes, type VaultAuth } from "./types.ts";

export interface AppRoleAuthOptions {
  roleId: string;
  /** Omit for roles created with bind_secret_id=false. */
  secretId?: string;
  /** Mount path of the AppRole method; default "approle". */
  mount?: string;
}

/** AppRole auth: POST auth/<mount>/login with role_id and secret_id. */
export function appRoleAuth(options: AppRoleAuthOptions): VaultAuth {
  if (options.roleId === "") throw new VaultInvalidError("approle auth: roleId is empty");
  const mount = trimSlashes(options.mount ?? "approle");
  const body: Record<string, unknown> = { role_id: options.roleId };
  if (options.secretId !== undefined) body.secret_id = options.secretId;
  return { method: "approle", login: (client) => client.login(mount, body) };
}
