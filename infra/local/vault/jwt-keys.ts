/**
 * Signature checks for the cloud auth methods that receive JWTs signed by the cloud (GCP, Azure).
 * A real Vault fetches the cloud's public keys (Google's certificates, a tenant's JWKS); the local
 * Vault cannot, so tests register them under their key id with a local-only endpoint,
 *   auth/<mount>/local/key/<kid>   { public_key: <PEM>, owner?: <service account> }
 * and only RS256 signatures by a registered key are accepted.
 */
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import type { Handler } from "./model.ts";
import {
  badRequest,
  isObject,
  noContent,
  notFound,
  stringParam,
  unsupportedOperation,
  type Json,
  type Operation,
} from "./wire.ts";

interface RegisteredKey {
  key: KeyObject;
  /** GCP: the service account a key belongs to; "" for the cloud's own keys. */
  owner: string;
}

export class LocalKeys {
  private readonly keys = new Map<string, RegisteredKey>();

  /** The handler for local/key/<kid>, or undefined for other paths. */
  route(kind: string, op: Operation, subPath: string): Handler | undefined {
    const m = /^local\/key\/([^/]+)$/.exec(subPath);
    if (!m) return undefined;
    const kid = m[1]!;
    const name = `${kind}.key`;
    if (op === "read") {
      return {
        name,
        run: () => {
          const k = this.keys.get(kid);
          if (!k) throw notFound();
          return { data: { owner: k.owner } };
        },
      };
    }
    if (op === "delete") return { name, run: () => (this.keys.delete(kid), noContent()) };
    if (op !== "create" && op !== "update") throw unsupportedOperation();
    return {
      name,
      run: (ctx) => {
        let key: KeyObject;
        try {
          key = createPublicKey(stringParam(ctx.data, "public_key"));
        } catch {
          throw badRequest("public_key: a PEM public key is required");
        }
        this.keys.set(kid, { key, owner: stringParam(ctx.data, "owner") });
        return noContent();
      },
    };
  }

  /**
   * The claims of an RS256 JWT signed by a registered key. `accept` decides whether a key may
   * sign this token (given its owner and the unverified claims); errors are Vault-style texts.
   */
  verify(jwt: string, accept: (owner: string, claims: Json) => boolean = () => true): Json {
    const parts = jwt.split(".");
    const decode = (i: number): Json | undefined => {
      try {
        const v: unknown = JSON.parse(Buffer.from(parts[i] ?? "", "base64url").toString("utf8"));
        return isObject(v) ? v : undefined;
      } catch {
        return undefined;
      }
    };
    const header = decode(0);
    const claims = decode(1);
    if (parts.length !== 3 || !header || !claims) throw badRequest("unable to parse signed JWT: malformed");
    if (header.alg !== "RS256")
      throw badRequest(`unable to parse signed JWT: unexpected signature algorithm "${String(header.alg)}"`);
    const kid = typeof header.kid === "string" ? header.kid : "";
    const registered = this.keys.get(kid);
    if (!registered || !accept(registered.owner, claims))
      throw badRequest(`unable to get public key "${kid}" for the JWT`);
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    if (!verify("sha256", signed, registered.key, Buffer.from(parts[2]!, "base64url")))
      throw badRequest("failed to verify the JWT signature");
    return claims;
  }
}

/** A claim that may be one string or a list of them, as a list. */
export const audiences = (v: unknown): string[] =>
  Array.isArray(v) ? v.map(String) : typeof v === "string" ? [v] : [];
