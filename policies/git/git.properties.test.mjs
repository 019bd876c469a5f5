// What the git policy guarantees for every request, on the example server's tool list. Run with
// `pqguard test policies/git`: each property decides with the compiled guard and the interpreter at once.
import fc from "fast-check";
import { alwaysDenies, neverAllows, request, session, toolCall } from "pqguard/testing";

const STRONG = ["X25519MLKEM768", "ML-KEM-768", "ML-KEM-1024"];
const admitted = (role) => session({ role, kem: STRONG });
const ROLES = ["reviewer", "developer"];
const TOOLS = ["git_status", "git_log", "git_diff", "git_show", "git_add", "git_commit", "git_create_branch", "git_checkout", "git_reset", "git_push"];
const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
/** Repository paths outside /srv/repos: elsewhere, beside it, back out through `..`, encoded or backslashed. */
const outside = fc.oneof(
  segment.map((s) => `/home/${s}`),
  segment.map((s) => `/srv/repos-old/${s}`),
  segment.map((s) => `/srv/repos/${s}/../../etc`),
  segment.map((s) => `/srv/repos/${s}/%2e%2e/%2e%2e/etc`),
  segment.map((s) => `/srv/repos/${s}\\..\\..\\etc`),
);
const option = fc.tuple(fc.constantFrom("-", "--"), segment).map(([dashes, s]) => `${dashes}${s}`);
const withArgs = (call, extra) => fc.tuple(call, extra).map(([c, args]) => ({ ...c, args: { ...c.args, ...args } }));

export default (t) => {
  const anyTool = fc.oneof(...TOOLS.map((tool) => toolCall(t.manifest, tool)));

  t.it("no repository outside /srv/repos is touched, by any tool or role", () => {
    neverAllows(t.guard, request({ call: withArgs(anyTool, outside.map((repo_path) => ({ repo_path }))), session: admitted(ROLES) }));
  });

  t.it("no revision or branch is ever read by git as an option", () => {
    const revisions = fc.oneof(
      withArgs(toolCall(t.manifest, "git_diff"), option.map((target) => ({ repo_path: "/srv/repos/app", target }))),
      withArgs(toolCall(t.manifest, "git_show"), option.map((revision) => ({ repo_path: "/srv/repos/app", revision }))),
      withArgs(toolCall(t.manifest, "git_checkout"), option.map((branch_name) => ({ repo_path: "/srv/repos/app", branch_name }))),
      withArgs(toolCall(t.manifest, "git_push"), option.map((branch) => ({ repo_path: "/srv/repos/app", branch }))),
    );
    neverAllows(t.guard, request({ call: revisions, session: admitted(ROLES) }));
  });

  t.it("a force push is always denied", () => {
    alwaysDenies(t.guard, request({ call: withArgs(toolCall(t.manifest, "git_push"), fc.constant({ force: true })), session: admitted(ROLES) }));
  });

  t.it("a reviewer never changes a repository", () => {
    neverAllows(t.guard, request({ manifest: t.manifest, session: admitted("reviewer") }), (r) => !["git_status", "git_log", "git_diff", "git_show"].includes(r.tool));
  });
};
