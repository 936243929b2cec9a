import { VaultInvalidError } from "../types.ts";
import { readCredentialFile, trimSlashes, type VaultAuth } from "./types.ts";

export interface JwtAuthOptions {
  /** Omit to use the mount's default_role. */
  role?: string;
  /** The JWT itself, or a file holding it (read at every login). Exactly one. */
  jwt?: string;
  jwtFile?: string;
  /** Mount path of the JWT/OIDC method; default "jwt". */
  mount?: string;
}

/** JWT auth: POST auth/<mount>/login with the role and the JWT. */
export function jwtAuth(options: JwtAuthOptions): VaultAuth {
  const { jwt, jwtFile } = options;
  if ((jwt === undefined) === (jwtFile === undefined)) {
    throw new VaultInvalidError("jwt auth: give exactly one of jwt and jwtFile");
  }
  if (jwt === "") throw new VaultInvalidError("jwt auth: jwt is empty");
  const mount = trimSlashes(options.mount ?? "jwt");
  return {
    method: "jwt",
    async login(client) {
      const token = jwt ?? (await readCredentialFile(jwtFile!, "JWT"));
      const body: Record<string, unknown> = { jwt: token };
      if (options.role !== undefined) body.role = options.role;
      return client.login(mount, body);
    },
  };
}
