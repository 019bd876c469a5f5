// What the server-filesystem policy guarantees for every request, on the real server's tool list. Run with
// `pqguard test policies/server-filesystem`: each property decides with the compiled guard and the interpreter at once.
import fc from "fast-check";
import { alwaysDenies, decides, neverAllows, request, session, toolCall } from "pqguard/testing";

const STRONG = ["X25519MLKEM768", "ML-KEM-768", "ML-KEM-1024"];
const admitted = (role) => session({ role, kem: STRONG });
const ROLES = ["reader", "editor"];
const PATH_TOOLS = ["read_file", "read_text_file", "read_media_file", "list_directory", "list_directory_with_sizes", "directory_tree", "search_files", "get_file_info"];
const WRITERS = ["write_file", "edit_file", "create_directory"];
const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
const folderList = fc.array(segment, { maxLength: 3 });
const folders = folderList.map((parts) => parts.map((p) => `${p}/`).join(""));
/** Folders below /srv/docs and, after them, one more step up than down: `a/b/../../../`, in the given spelling. */
const climbOut = (up) => folderList.map((parts) => parts.map((p) => `${p}/`).join("") + up.repeat(parts.length + 1));
/** Paths that leave /srv/docs: elsewhere, beside it, back out through `..`, encoded, backslashed or relative. */
const escapes = fc.oneof(
  folders.map((dir) => `/${dir}file.txt`),
  folders.map((dir) => `/srv/docs-evil/${dir}file.txt`),
  fc.tuple(climbOut("../"), folders).map(([up, b]) => `/srv/docs/${up}${b}file.txt`),
  climbOut("%2e%2e/").map((up) => `/srv/docs/${up}etc/passwd`),
  climbOut("..\\").map((up) => `/srv/docs/${up}etc\\passwd`),
  folders.map((dir) => `docs/${dir}file.txt`),
);
const inside = fc.tuple(folders, segment).map(([dir, name]) => `/srv/docs/${dir}${name}.md`);
const secrets = fc
  .tuple(folders, fc.constantFrom(".env", ".env.local", ".ssh/id_ed25519", ".aws/credentials", "tls/server.pem", "keys/app.key", "id_rsa", ".git/config"), fc.boolean())
  .map(([dir, secret, upper]) => `/srv/docs/${dir}${upper ? secret.toUpperCase() : secret}`);
const withArgs = (call, extra) => fc.tuple(call, extra).map(([c, args]) => ({ ...c, args: { ...c.args, ...args } }));

export default (t) => {
  const anyOf = (tools) => fc.oneof(...tools.map((tool) => toolCall(t.manifest, tool)));

  t.it("no path that leaves /srv/docs is ever read, listed or written, by any role", () => {
    neverAllows(t.guard, request({ call: withArgs(anyOf([...PATH_TOOLS, ...WRITERS]), escapes.map((path) => ({ path }))), session: admitted(ROLES) }));
  });

  t.it("a secret is never read, whatever the role and letter case", () => {
    alwaysDenies(t.guard, request({ call: withArgs(anyOf(PATH_TOOLS), secrets.map((path) => ({ path }))), session: admitted(ROLES) }));
    alwaysDenies(t.guard, request({ call: withArgs(toolCall(t.manifest, "read_multiple_files"), secrets.map((path) => ({ paths: [path] }))), session: admitted(ROLES) }));
  });

  t.it("ordinary files inside /srv/docs are read by every role", () => {
    decides(t.guard, request({ call: withArgs(anyOf(PATH_TOOLS), inside.map((path) => ({ path }))), session: admitted(ROLES) }), "allow");
  });

  t.it("a reader is never allowed a tool the server does not mark read-only", () => {
    neverAllows(t.guard, request({ manifest: t.manifest, session: admitted("reader") }), (r) => !["read_file", "read_text_file", "read_media_file", "read_multiple_files", "list_directory", "list_directory_with_sizes", "directory_tree", "search_files", "get_file_info", "list_allowed_directories"].includes(r.tool));
  });

  t.it("a move is never allowed without a human", () => {
    neverAllows(t.guard, request({ call: toolCall(t.manifest, "move_file"), session: admitted(ROLES) }));
  });

  t.it("nothing is decided for a session on a weak key exchange or without a known role", () => {
    alwaysDenies(t.guard, request({ manifest: t.manifest, session: session({ role: ROLES, kem: ["ML-KEM-512"] }) }));
    alwaysDenies(t.guard, request({ manifest: t.manifest, session: session({ role: ["admin", "guest"], kem: STRONG }) }));
  });
};
