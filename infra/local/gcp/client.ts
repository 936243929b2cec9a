/**
 * The official Secret Manager client pointed at the local GCP: REST over plain HTTP, with no
 * credentials (the local GCP takes any or none). What tests and benchmarks use to play a user.
 */
import { SecretManagerServiceClient } from "@google-cloud/secret-manager";

type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

/** `host` is "host:port", as SECRETMANAGER_EMULATOR_HOST spells it. */
export function localGcpClient(host: string): SecretManagerServiceClient {
  const [apiEndpoint, port] = host.split(":");
  const noCredentials = {
    getRequestHeaders: async () => new Headers(),
    fetch: (url: string, init: RequestInit) => fetch(url, init),
  };
  return new SecretManagerServiceClient({
    fallback: true,
    apiEndpoint: apiEndpoint!,
    port: Number(port),
    protocol: "http",
    auth: noCredentials as unknown as ClientOptions["auth"],
  });
}
