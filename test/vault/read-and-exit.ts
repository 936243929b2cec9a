/**
 * Child process for lifecycle.test.ts: logs in with AppRole, reads one secret, prints it
 * and returns without closing the source. The process must then exit on its own.
 */
import { appRoleAuth, createVaultSource } from "../../shared/vault/index.ts";

const source = createVaultSource({
  address: process.env.TEST_VAULT_ADDR!,
  auth: appRoleAuth({ roleId: process.env.TEST_ROLE_ID!, secretId: process.env.TEST_SECRET_ID! }),
  kvVersions: { secret: 2 },
});
const secret = await source.read({ mount: "secret", path: "exit/check" });
process.stdout.write(`read version ${secret.version}\n`);
