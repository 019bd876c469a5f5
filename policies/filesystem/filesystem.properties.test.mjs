// What the filesystem policy guarantees for every request. Run with `pqguard test policies/filesystem`: `t.guard`
// decides each request with the compiled guard and the interpreter at once.
import fc from "fast-check";
import { alwaysDenies, neverAllows, request, session, toolCall } from "pqguard/testing";

/** Sessions every requirement lets through: a known role on ML-KEM-768 or stronger. */
const admitted = (role) => session({ role, kem: ["X25519MLKEM768", "ML-KEM-768", "ML-KEM-1024", "SecP384r1MLKEM1024", "X-Wing"] });
const ROLES = ["developer", "reviewer", "ci"];
const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
const folders = fc.array(segment, { maxLength: 3 }).map((parts) => parts.map((p) => `${p}/`).join(""));
/** Paths to secrets inside the workspace, in any letter case: the policy's regex is case-insensitive. */
const secretPaths = fc
  .tuple(folders, fc.constantFrom(".env", ".ssh/config", ".aws/credentials", ".gnupg/pubring.kbx", "server.pem", "id_rsa", "id_ecdsa", "id_ed25519"), fc.boolean())
  .map(([dir, secret, upper]) => `/workspace/${dir}${upper ? secret.toUpperCase() : secret}`);
/** Paths that leave the workspace: elsewhere, beside it, or back out of it through `..`. */
const outsidePaths = fc.oneof(
  folders.map((dir) => `/${dir}file.txt`),
  folders.map((dir) => `/workspace-old/${dir}file.txt`),
  // One step up more than down, so the path really leaves: `/workspace/a/b/../../../x`.
  fc.tuple(fc.array(segment, { maxLength: 3 }), folders).map(([down, b]) => `/workspace/${down.map((p) => `${p}/`).join("")}${"../".repeat(down.length + 1)}${b}file.txt`),
);
const withArgs = (call, extra) => fc.tuple(call, extra).map(([c, args]) => ({ ...c, args: { ...c.args, ...args } }));

export default (t) => {
  t.it("secrets are never read, searched or inspected, by any role", () => {
    const readers = fc.oneof(...["read_file", "search_files", "file-info"].map((tool) => toolCall(t.manifest, tool)));
    alwaysDenies(t.guard, request({ call: withArgs(readers, secretPaths.map((path) => ({ path }))), session: admitted(ROLES) }));
  });

  t.it("nothing outside the workspace is ever written or deleted", () => {
    const writes = fc.oneof(toolCall(t.manifest, "write_file"), toolCall(t.manifest, "delete_file"));
    neverAllows(t.guard, request({ call: withArgs(writes, outsidePaths.map((path) => ({ path }))), session: admitted(ROLES) }));
  });

  t.it("a reviewer is never allowed a tool the server marks destructive", () => {
    const destructive = ["write_file", "move_file", "delete_file", "run_shell"];
    neverAllows(t.guard, request({ manifest: t.manifest, session: admitted("reviewer") }), (r) => destructive.includes(r.tool));
  });

  t.it("a recursive delete is always denied", () => {
    alwaysDenies(t.guard, request({ call: withArgs(toolCall(t.manifest, "delete_file"), fc.constant({ recursive: true })), session: admitted(ROLES) }));
  });

  t.it("network and privilege commands are never run, whoever asks", () => {
    const commands = fc
      .tuple(fc.constantFrom("", "npm test; ", "npm test && ", "true | ", "("), fc.constantFrom("sudo", "curl", "wget", "ssh", "scp", "nc", "rm -rf"), segment)
      .map(([before, command, rest]) => ({ command: `${before}${command} ${rest}` }));
    alwaysDenies(t.guard, request({ call: withArgs(toolCall(t.manifest, "run_shell"), commands), session: admitted(ROLES) }));
  });

  t.it("CI runs only its three commands", () => {
    const listed = ["npm test", "npm run build", "npm run lint"];
    neverAllows(t.guard, request({ call: toolCall(t.manifest, "run_shell"), session: admitted("ci") }), (r) => !listed.includes(r.args.command));
  });
};
