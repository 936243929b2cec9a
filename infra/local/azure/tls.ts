/**
 * A throw-away certificate authority and server certificate for the local Key Vault, made at
 * every start. Azure SDKs only send bearer tokens over HTTPS, so the local vault must speak TLS
 * with a certificate that clients can be told to trust (the CA PEM written to disk).
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { generate } from "selfsigned";

export interface LocalTls {
  caCertPem: string;
  /** Server key and certificate for https.createServer. */
  key: string;
  cert: string;
}

export async function createLocalTls(): Promise<LocalTls> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(Date.now() + 365 * 24 * 3600_000);
  const ca = await generate([{ name: "commonName", value: "pushsync local CA" }], {
    keyType: "ec",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  return { caCertPem: ca.cert, key: server.private, cert: server.cert };
}

/** Writes the CA certificate as `<dir>/local-ca.pem` and returns its path. */
export async function writeCaPem(dir: string, pem: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.resolve(dir, "local-ca.pem");
  await writeFile(file, pem);
  return file;
}
