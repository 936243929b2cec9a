import { VaultInvalidError } from "../types.ts";
import { fetchIdentity, fetchIdentityJson, stringField } from "./identity-http.ts";
import { trimSlashes, type VaultAuth } from "./types.ts";

/**
 * Logs in to Vault as the Google service account the code runs as, with nothing stored: every
 * credential comes from the metadata server (Cloud Functions, Cloud Run, GKE, Compute Engine).
 *
 *   iam  (Vault's GCP method, role type "iam"; the one that works on Cloud Functions and Cloud Run)
 *        a JWT {aud: "http://vault/<role>", sub: <service account email>, exp: now + 15 min}
 *        signed by Google for the service account through the IAM Credentials API
 *        (POST https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/<email>:signJwt,
 *        authorised with the metadata server's access token). The account needs
 *        iam.serviceAccounts.signJwt on itself (roles/iam.serviceAccountTokenCreator). Vault
 *        checks that `aud` ends in "vault/<role>" and that `exp` is within the role's max_jwt_exp
 *        (default 15 min, at most 60).
 *   gce  (Vault's GCP method, role type "gce"; Compute Engine only) the metadata server's identity
 *        token for audience "http://vault/<role>" in the "full" format, whose
 *        google.compute_engine claims name the instance.
 *   jwt  (Vault's JWT/OIDC method) the same identity token, for a role whose bound_audiences hold
 *        the audience and whose issuer is https://accounts.google.com.
 *
 * The metadata server is http://metadata.google.internal, or GCE_METADATA_HOST ("host:port") as
 * Google's own libraries read it. Requests carry "Metadata-Flavor: Google", and answers must too.
 */
export type GcpLoginType = "iam" | "gce" | "jwt";

export interface GcpAuthOptions {
  role: string;
  /** Default "iam". */
  type?: GcpLoginType;
  /** Mount path; default "gcp", or "jwt" for type jwt. */
  mount?: string;
  /** iam: the service account to sign as; default the metadata server's default account. */
  serviceAccount?: string;
  /** iam: seconds until the signed JWT expires; default 900 (a role's default max_jwt_exp). */
  jwtTtlSeconds?: number;
  /** gce and jwt: the identity token's audience; default "http://vault/<role>". */
  audience?: string;
  /**
   * iam: signs a JWT payload (a JSON claims object) as `serviceAccount` and returns the signed
   * JWT. Default: the IAM Credentials API's signJwt with the metadata server's access token.
   */
  signJwt?: (serviceAccount: string, payload: string) => Promise<string>;
  /** "host[:port]" of the metadata server; default GCE_METADATA_HOST, else metadata.google.internal. */
  metadataHost?: string;
  /** Base URL of the IAM Credentials API; default https://iamcredentials.googleapis.com. */
  iamCredentialsEndpoint?: string;
}

const DEFAULT_METADATA_HOST = "metadata.google.internal";
const DEFAULT_IAM_CREDENTIALS_ENDPOINT = "https://iamcredentials.googleapis.com";
const DEFAULT_JWT_TTL_SECONDS = 900;
const SERVICE_ACCOUNT_PATH = "/computeMetadata/v1/instance/service-accounts/default";

export function gcpAuth(options: GcpAuthOptions): VaultAuth {
  if (options.role === "") throw new VaultInvalidError("gcp auth: role is empty");
  const type = options.type ?? "iam";
  const mount = trimSlashes(options.mount ?? (type === "jwt" ? "jwt" : "gcp"));
  const ttl = options.jwtTtlSeconds ?? DEFAULT_JWT_TTL_SECONDS;
  if (!(Number.isInteger(ttl) && ttl > 0 && ttl <= 3600)) {
    throw new VaultInvalidError("gcp auth: jwtTtlSeconds must be an integer from 1 to 3600");
  }
  const audience = options.audience ?? `http://vault/${options.role}`;
  const host = options.metadataHost || process.env.GCE_METADATA_HOST || DEFAULT_METADATA_HOST;
  const flavor = {
    headers: { "Metadata-Flavor": "Google" },
    expectHeader: ["metadata-flavor", "Google"] as [string, string],
  };
  const metadata = (path: string) =>
    fetchIdentity(`http://${host}${SERVICE_ACCOUNT_PATH}/${path}`, {
      ...flavor,
      what: `gcp auth: the metadata server (${SERVICE_ACCOUNT_PATH}/${path.split("?")[0]})`,
    });

  const signWithIamCredentials = async (serviceAccount: string, payload: string): Promise<string> => {
    const tokenPath = `${SERVICE_ACCOUNT_PATH}/token`;
    const tokenWhat = `gcp auth: the metadata server (${tokenPath})`;
    const token = await fetchIdentityJson(`http://${host}${tokenPath}`, { ...flavor, what: tokenWhat });
    const base = (options.iamCredentialsEndpoint ?? DEFAULT_IAM_CREDENTIALS_ENDPOINT).replace(/\/+$/, "");
    const what = `gcp auth: signJwt for ${serviceAccount}`;
    const signed = await fetchIdentityJson(
      `${base}/v1/projects/-/serviceAccounts/${encodeURIComponent(serviceAccount)}:signJwt`,
      {
        what,
        method: "POST",
        headers: {
          authorization: `Bearer ${stringField(token, "access_token", tokenWhat)}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ payload }),
        deniedHint: "the service account needs iam.serviceAccounts.signJwt on itself",
      },
    );
    return stringField(signed, "signedJwt", what);
  };

  async function jwt(): Promise<string> {
    if (type !== "iam") {
      const query = new URLSearchParams({ audience, format: "full" });
      return metadata(`identity?${query}`);
    }
    const serviceAccount = options.serviceAccount || (await metadata("email")).trim();
    const payload = JSON.stringify({
      aud: `http://vault/${options.role}`,
      sub: serviceAccount,
      exp: Math.floor(Date.now() / 1000) + ttl,
    });
    return (options.signJwt ?? signWithIamCredentials)(serviceAccount, payload);
  }

  return {
    method: `gcp-${type}`,
    login: async (client) => client.login(mount, { role: options.role, jwt: (await jwt()).trim() }),
  };
}
