// The git example behind its policy, on real repositories made with the real `git`: reviewers read history, developers
// commit and push feature branches, and an option smuggled in as a revision, a force push, a secret staged or a
// repository outside the root never reach git.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { GuardModule } from "../../runtime/guard/types.js";
import type { VerifiedManifest } from "../../runtime/manifest/signed.js";
import { guardedServer, libraryGuard, libraryManifest, POLICIES, textOf, type GuardedServer, type ServerCommand } from "./library.js";

const GIT_ENV = { GIT_AUTHOR_NAME: "Test", GIT_AUTHOR_EMAIL: "test@example.org", GIT_COMMITTER_NAME: "Test", GIT_COMMITTER_EMAIL: "test@example.org" };

describe("policy library: git example", function () {
  this.timeout(60_000);
  let base: string;
  let repos: string;
  let app: string;
  let server: ServerCommand;
  let guard: GuardModule;
  let manifest: VerifiedManifest;
  const open: GuardedServer[] = [];

  const git = (cwd: string, ...args: string[]): string => execFileSync("git", args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: "utf8" });

  before(async function () {
    try {
      execFileSync("git", ["--version"]);
    } catch {
      process.stderr.write("git is not installed: the git example's tests are skipped\n");
      this.skip();
    }
    base = realpathSync(mkdtempSync(join(tmpdir(), "pqguard-git-")));
    repos = join(base, "repos");
    app = join(repos, "app");
    mkdirSync(app, { recursive: true });
    git(base, "init", "--bare", "-b", "main", join(base, "origin.git"));
    git(app, "init", "-b", "main");
    writeFileSync(join(app, "README.md"), "# app\n");
    git(app, "add", "README.md");
    git(app, "commit", "-m", "initial commit");
    git(app, "remote", "add", "origin", join(base, "origin.git"));
    server = { command: process.execPath, args: ["--import", "tsx", join(POLICIES, "git", "server.ts")], env: { GIT_ROOT: repos, ...GIT_ENV } };
    guard = await libraryGuard("git", "git", "git.manifest.json", { "/srv/repos": repos });
    manifest = libraryManifest("git", "git.manifest.json");
  });

  after(async () => {
    await Promise.allSettled(open.map((s) => s.close()));
    if (base !== undefined) rmSync(base, { recursive: true, force: true });
  });

  async function as(role: string): Promise<GuardedServer> {
    const connected = await guardedServer(server, guard, manifest, role);
    open.push(connected);
    return connected;
  }

  it("lets a reviewer read history, and refuses options smuggled in as revisions before git sees them", async () => {
    const reviewer = await as("reviewer");
    assert.match(textOf(await reviewer.call("git_log", { repo_path: app })), /initial commit/);
    const written = join(base, "written-by-git");
    await reviewer.refused("git_diff", { repo_path: app, target: `--output=${written}` });
    await reviewer.refused("git_show", { repo_path: app, revision: "--no-patch" });
    assert.equal(existsSync(written), false, "no file was written through --output");
    assert.equal((await reviewer.refused("git_commit", { repo_path: app, message: "x" })).reason, "reviewers have read-only access");
  });

  it("refuses repositories outside the root", async () => {
    const reviewer = await as("reviewer");
    for (const repo_path of [base, `${repos}-old`, `${app}/../..`, `${repos}/%2e%2e`]) {
      assert.match((await reviewer.refused("git_status", { repo_path })).reason, /no rule permits/, repo_path);
    }
  });

  it("lets a developer commit and push a feature branch, never a secret or a force push", async () => {
    const developer = await as("developer");
    await developer.call("git_create_branch", { repo_path: app, branch_name: "feature/notes" });
    await developer.call("git_checkout", { repo_path: app, branch_name: "feature/notes" });
    writeFileSync(join(app, "notes.md"), "notes\n");
    writeFileSync(join(app, ".env"), "TOKEN=not-a-real-token\n");
    const staging = "no secret, and no option disguised as a file, is ever staged";
    assert.equal((await developer.refused("git_add", { repo_path: app, files: [".env"] })).reason, staging);
    assert.equal((await developer.refused("git_add", { repo_path: app, files: ["notes.md", ".env"] })).reason, staging);
    assert.equal((await developer.refused("git_add", { repo_path: app, files: ["notes.md", "--all"] })).reason, staging);
    await developer.call("git_add", { repo_path: app, files: ["notes.md"] });
    await developer.call("git_commit", { repo_path: app, message: "notes" });
    await developer.call("git_push", { repo_path: app, branch: "feature/notes" });
    assert.match(git(join(base, "origin.git"), "log", "--oneline", "feature/notes"), /notes/);
    assert.equal((await developer.refused("git_push", { repo_path: app, branch: "feature/notes", force: true })).reason, "history is never rewritten on a remote");
    assert.equal((await developer.refused("git_push", { repo_path: app, branch: "main" })).code, "PQG7305", "main waits for a human");
    assert.doesNotMatch(git(app, "show", "--stat", "HEAD"), /\.env/);
  });
});
