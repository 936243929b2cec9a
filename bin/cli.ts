/** The `pushsync` command line. Each command lives in bin/commands/<name>.ts. */
const usage = `pushsync <command> [options]

Commands:
  validate [paths...]   validate ESO manifests (SecretStore, ClusterSecretStore, PushSecret, ExternalSecret)
  plan [options]        show what sync would change in each store, writing nothing
  sync [options]        push Vault secrets to the stores the PushSecrets name
  forward [options]     forward Vault's change notifications to SQS and/or webhooks
  pull [options]        turn the cluster's ExternalSecrets into Kubernetes Secrets (in-cluster puller)
  local [--only ...]    run the local clouds (Vault, AWS, GCP, Azure) in the foreground
  dev [options]         run the whole main job locally with a live status table (npm start)

Run "pushsync <command> --help" for a command's options.`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  validate: async () => (await import("./commands/validate.ts")).default,
  plan: async () => (await import("./commands/plan.ts")).default,
  sync: async () => (await import("./commands/sync.ts")).default,
  forward: async () => (await import("./commands/forward.ts")).default,
  pull: async () => (await import("./commands/pull.ts")).default,
  local: async () => (await import("./commands/local.ts")).default,
  dev: async () => (await import("./commands/dev.ts")).default,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`pushsync: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  return (await load())(rest);
}
