import { describe, expect, it } from "vitest";
import { PathIndex } from "../../shared/events/index-paths.ts";
import { MANIFESTS, watchOf } from "./helpers.ts";

const stores = `
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: { name: kv2 }
spec:
  provider:
    vault: { server: "http://127.0.0.1:8200", path: secret, version: v2 }
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: { name: legacy }
spec:
  provider:
    vault: { server: "http://127.0.0.1:8200", path: legacy, version: v1 }
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: { name: team-a }
spec:
  provider:
    vault: { server: "http://127.0.0.1:8200", path: kv/data, version: v2, namespace: team-a/ }
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: { name: no-path }
spec:
  provider:
    vault: { server: "http://127.0.0.1:8200", version: v2 }
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: { name: aws, namespace: default }
spec:
  provider:
    aws: { service: SecretsManager, region: us-east-1 }
`;

const es = (name: string, store: string, spec: string) => `
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: { name: ${name}, namespace: default }
spec:
  secretStoreRef: { name: ${store}, kind: ClusterSecretStore }
  target: { name: ${name} }
${spec}`;

describe("watched locations from manifests", () => {
  it("takes PushSecret sources, ExternalSecret keys and find paths, with namespaces and KV versions", async () => {
    const yaml =
      stores +
      `---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: direct, namespace: default }
spec:
  secretStoreRefs: [{ name: kv2, kind: ClusterSecretStore }, { name: aws }]
  selector: { secret: { name: secret/data/prod/db } }
  data: [{ match: { secretKey: password, remoteRef: { remoteKey: db } } }]
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: via-es, namespace: default }
spec:
  secretStoreRefs: [{ name: aws }]
  selector: { secret: { name: legacy-app } }
  data: [{ match: { secretKey: token, remoteRef: { remoteKey: legacy-token } } }]` +
      es(
        "legacy-app",
        "legacy",
        `  data: [{ secretKey: token, remoteRef: { key: app/token } }]
  dataFrom: [{ extract: { key: legacy/shared } }]`,
      ) +
      es("team-a-find", "team-a", `  dataFrom: [{ find: { path: svc/, name: { regexp: ".*" } } }]`) +
      es("whole-mount", "kv2", `  dataFrom: [{ find: { tags: { team: a } } }]`) +
      es(
        "no-path-find",
        "no-path",
        `  dataFrom: [{ find: { path: other/data/x, name: { regexp: ".*" } } }]`,
      ) +
      es("no-path-nothing", "no-path", `  dataFrom: [{ find: { name: { regexp: ".*" } } }]`);
    const watch = await watchOf(yaml);
    expect(watch.errors).toEqual([]);
    expect(watch.paths).toEqual(
      expect.arrayContaining([
        { namespace: "", mount: "secret", path: "prod/db" },
        { namespace: "", mount: "legacy", path: "app/token" },
        { namespace: "", mount: "legacy", path: "shared" },
        { namespace: "team-a", mount: "kv", prefix: "svc/" },
        { namespace: "", mount: "secret", prefix: "" },
        { namespace: "", mount: "other", prefix: "x/" },
      ]),
    );
    expect(watch.mounts).toEqual({ secret: 2, legacy: 1, "team-a/kv": 2, other: 2 });
    expect(watch.warnings).toEqual([
      "ExternalSecret default/no-path-nothing: dataFrom.find needs a path starting with the mount when the store has no path",
    ]);

    const index = new PathIndex(watch.paths);
    const at = (namespace: string, mount: string, path: string) => index.matches({ namespace, mount, path });
    expect(at("", "legacy", "app/token")).toBe(true);
    expect(at("", "legacy", "app/other")).toBe(false);
    expect(at("team-a", "kv", "svc/api")).toBe(true);
    expect(at("team-a", "kv", "svcx/api")).toBe(false);
    expect(at("", "kv", "svc/api")).toBe(false); // same mount name, root namespace
    expect(at("", "secret", "anything/at/all")).toBe(true); // find without path: the whole mount
    expect(at("", "other", "x/y")).toBe(true);
    expect(at("", "other", "y")).toBe(false);
  });

  it("warns when two stores give one mount different KV versions", async () => {
    const yaml =
      stores +
      `---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: { name: kv1-view }
spec:
  provider:
    vault: { server: "http://127.0.0.1:8200", path: secret, version: v1 }` +
      es("a", "kv2", `  data: [{ secretKey: k, remoteRef: { key: app/a } }]`) +
      es("b", "kv1-view", `  data: [{ secretKey: k, remoteRef: { key: app/b } }]`);
    const watch = await watchOf(yaml);
    expect(watch.mounts).toEqual({ secret: 2 });
    expect(watch.warnings).toEqual([
      "ClusterSecretStore kv1-view: mount secret is KV v1 here but v2 in another store; reading it as v2",
    ]);
  });

  it("watches what the shared test manifests name", async () => {
    const watch = await watchOf(MANIFESTS);
    const index = new PathIndex(watch.paths);
    expect(index.matches({ namespace: "", mount: "secret", path: "app/db" })).toBe(true);
    expect(index.matches({ namespace: "", mount: "secret", path: "team/p1" })).toBe(true);
    expect(index.matches({ namespace: "", mount: "secret", path: "other/x" })).toBe(false);
  });
});
