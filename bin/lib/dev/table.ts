/**
 * The live status table of `pushsync dev`: one row per destination (store, remote key and
 * property) with its Vault path, state, Vault version, the latency of its last push and the
 * function that made it (aws-lambda: the push worker; gcp-function, azure-function; reconciler:
 * the reconciler Lambda; puller: the cluster's puller).
 *
 * Outcomes before `start` are only recorded. Then, on a terminal, the table is redrawn in place
 * (at most every REDRAW_MS); otherwise it is printed once and each row that changes is printed
 * again as one line, in the table's columns. Rows start "pending" and follow
 * the push outcomes of both functions: created, updated and unchanged are "synced", an error
 * shows its code ("error: Unavailable"), skipped and deleted show as such. A reconcile that
 * finds a row unchanged keeps the latency and the function of the push before it.
 */
import type { PushEntry } from "../../../shared/engine/index.ts";
import type { PushOutcome, Pusher } from "./pipeline.ts";

interface Row {
  path: string;
  store: string;
  remoteKey: string;
  state: string;
  version: string;
  latency: string;
  by: string;
}

const HEADER: Row = {
  path: "VAULT PATH",
  store: "STORE",
  remoteKey: "REMOTE KEY",
  state: "STATE",
  version: "VERSION",
  latency: "LAST PUSH",
  by: "PUSHED BY",
};
const PUSHER_LABEL: Record<Pusher, string> = {
  "push-worker": "aws-lambda",
  "gcp-function": "gcp-function",
  "azure-function": "azure-function",
  reconciler: "reconciler",
  puller: "puller",
};
const COLUMNS = Object.keys(HEADER) as (keyof Row)[];
const REDRAW_MS = 50;

const rowKey = (r: { store: string; remoteKey: string; property?: string }): string =>
  `${r.store}\u0000${r.remoteKey}\u0000${r.property ?? ""}`;
const shownKey = (r: { remoteKey: string; property?: string }): string =>
  r.property === undefined ? r.remoteKey : `${r.remoteKey} (${r.property})`;

export class StatusTable {
  private readonly rows = new Map<string, Row>();
  private started = false;
  private drawnLines = 0;
  private timer: NodeJS.Timeout | undefined;

  /** On a terminal (`tty`), lines are cut at `columns()`: a wrapped line would break the redraw. */
  constructor(
    private readonly write: (text: string) => void,
    private readonly tty: boolean,
    private readonly columns: () => number = () => Infinity,
  ) {}

  /** Adds a pending row per entry without one yet, and shows the table. */
  start(entries: PushEntry[]): void {
    const paths = new Map<string, Set<string>>();
    for (const e of entries) {
      const key = rowKey(e);
      const row = this.rows.get(key) ?? {
        path: "",
        store: e.store,
        remoteKey: shownKey(e),
        state: "pending",
        version: "-",
        latency: "-",
        by: "-",
      };
      this.rows.set(key, row);
      const known = paths.get(key) ?? new Set<string>();
      for (const p of e.source.parts) known.add(`${p.location.mount}/${p.location.path}`);
      paths.set(key, known);
      row.path = [...known].join(",");
    }
    this.started = true;
    if (this.tty) this.draw();
    else
      this.write(
        this.sorted()
          .map((r) => this.line(r) + "\n")
          .join(""),
      );
  }

  update(o: PushOutcome): void {
    const key = rowKey(o);
    const before = this.rows.get(key);
    const sources = (o.vault ?? "").split(",").filter((s) => s !== "");
    const row: Row = {
      path: before?.path ?? (sources.map((s) => s.slice(0, s.lastIndexOf("@"))).join(",") || "-"),
      store: o.store,
      remoteKey: shownKey(o),
      state: o.state ?? stateOf(o),
      version: sources.map((s) => s.slice(s.lastIndexOf("@") + 1)).join(",") || (before?.version ?? "-"),
      latency:
        o.latencyMs !== undefined
          ? `${o.latencyMs} ms`
          : o.outcome === "unchanged"
            ? (before?.latency ?? "-")
            : "-",
      by: o.outcome === "unchanged" && before ? before.by : PUSHER_LABEL[o.function],
    };
    if (before && COLUMNS.every((c) => before[c] === row[c])) return;
    this.rows.set(key, row);
    if (!this.started) return;
    if (!this.tty) this.write(this.line(row) + "\n");
    else this.timer ??= setTimeout(() => this.draw(), REDRAW_MS);
  }

  /** Draws what is pending; the table stays on screen. */
  stop(): void {
    if (this.timer) this.draw();
  }

  /** The header, then the rows by Vault path, store and remote key. */
  private sorted(): Row[] {
    const order = (r: Row): string => `${r.path}\u0000${r.store}\u0000${r.remoteKey}`;
    return [HEADER, ...[...this.rows.values()].sort((a, b) => order(a).localeCompare(order(b)))];
  }

  private widths(): Record<keyof Row, number> {
    const all = [HEADER, ...this.rows.values()];
    return Object.fromEntries(COLUMNS.map((c) => [c, Math.max(...all.map((r) => r[c].length))])) as Record<
      keyof Row,
      number
    >;
  }

  private line(r: Row): string {
    const w = this.widths();
    return COLUMNS.map((c) => r[c].padEnd(w[c]))
      .join("  ")
      .trimEnd();
  }

  private draw(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const lines = this.sorted().map((r) => this.line(r).slice(0, this.columns()));
    // Back to the table's first line, clear to the end of the screen, draw again.
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F\x1b[J` : "";
    this.write(up + lines.join("\n") + "\n");
    this.drawnLines = lines.length;
  }
}

function stateOf(o: PushOutcome): string {
  switch (o.outcome) {
    case "created":
    case "updated":
    case "unchanged":
      return "synced";
    case "error":
      return `error: ${o.error?.code ?? "unknown"}`;
    default:
      return o.outcome;
  }
}
