import { readFile } from "node:fs/promises";
import { VaultInvalidError } from "../types.ts";

/**
 * How the Vault source gets a token. Each auth method is one small object with a `login`;
 * adding a method (AWS IAM, GCP, Azure) is one more file that builds its login body.
 */

/** A token as Vault issued or described it. `ttlSeconds` 0 means it never expires. */
export interface VaultLogin {
  token: string;
  ttlSeconds: number;
  renewable: boolean;
}

/** What an auth method may ask of Vault while logging in. No session token is sent. */
export interface VaultLoginClient {
  /** POSTs `body` to `auth/<mount>/login` and returns the token Vault issued. */
  login(mount: string, body: Record<string, unknown>): Promise<VaultLogin>;
  /** Describes a token obtained elsewhere (`auth/token/lookup-self` called with it). */
  lookupSelf(token: string): Promise<VaultLogin>;
}

export interface VaultAuth {
  /** Method name for logs: "token", "approle", "kubernetes", "jwt". */
  readonly method: string;
  /**
   * Returns a fresh token. Called on first use, when the token cannot be renewed any
   * more, when it expired, and once after Vault answered 403.
   */
  login(client: VaultLoginClient): Promise<VaultLogin>;
}

/** Mount paths are written with or without slashes around them ("approle", "/auth-x/"). */
export function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, "");
}

/**
 * Reads a credential (token, JWT) from a file at every login, so that rotated files are
 * picked up. Errors name the file and what it should hold, never its content.
 */
export async function readCredentialFile(path: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "read error";
    throw new VaultInvalidError(`cannot read the ${what} file ${path} (${code})`);
  }
  const value = text.trim();
  if (value === "") throw new VaultInvalidError(`the ${what} file ${path} is empty`);
  return value;
}
