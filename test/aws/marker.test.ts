import { describe, expect, it } from "vitest";
import { parseTags } from "../../shared/providers/aws-secrets-manager/marker.ts";
import { MANAGED_BY_KEY } from "../../shared/providers/types.ts";

describe("AWS tags read from a listing", () => {
  it("keeps AWS's own tags (aws:*) out of the user tags, which pushsync compares and may untag", () => {
    const parsed = parseTags([
      { Key: "aws:cloudformation:stack-name", Value: "payments" },
      { Key: "AWS:Reserved", Value: "x" },
      { Key: MANAGED_BY_KEY, Value: "pushsync" },
      { Key: "team", Value: "payments" },
      { Key: "awsome", Value: "kept" },
    ]);
    expect(parsed.userTags).toEqual({ team: "payments", awsome: "kept" });
    expect(parsed.managedBy).toBe("pushsync");
  });
});
