// What the server-everything policy guarantees for every request, on the real server's tool list. Run with
// `pqguard test policies/server-everything`: each property decides with the compiled guard and the interpreter at once.
import fc from "fast-check";
import { alwaysDenies, decides, neverAllows, request, session, toolCall } from "pqguard/testing";

const STRONG = ["X25519MLKEM768", "ML-KEM-768", "ML-KEM-1024"];
const admitted = (role) => session({ role, kem: STRONG });
const ROLES = ["tester", "developer"];
const HARMLESS = ["echo", "get-annotated-message", "get-resource-links", "get-resource-reference", "get-structured-content", "get-sum", "get-tiny-image", "get-roots-list", "trigger-elicitation-request", "simulate-research-query"];
const withArgs = (call, extra) => fc.tuple(call, extra).map(([c, args]) => ({ ...c, args: { ...c.args, ...args } }));
const label = fc.stringMatching(/^[a-z]{1,8}$/);
/** Destinations a download must never reach: internal addresses, other hosts, look-alikes, other schemes. */
const forbiddenDestinations = fc.oneof(
  fc.constantFrom("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://127.0.0.1:8080/", "http://localhost/", "file:///etc/passwd", "gopher://127.0.0.1:6379/_"),
  label.map((l) => `https://raw.githubusercontent.com.${l}.example/x`),
  // The allowed host as userinfo in front of another host, and behind a backslash that http parsers read as `/`.
  label.map((l) => `https://raw.githubusercontent.com@${l}.example/x`),
  label.map((l) => `https://raw.githubusercontent.com\\@${l}.example/x`),
  label.map((l) => `https://${l}.example/raw.githubusercontent.com/`),
);

export default (t) => {
  t.it("the harmless tools run for every role", () => {
    decides(t.guard, request({ call: fc.oneof(...HARMLESS.map((tool) => toolCall(t.manifest, tool))), session: admitted(ROLES) }), "allow");
  });

  t.it("the environment is never read", () => {
    alwaysDenies(t.guard, request({ call: toolCall(t.manifest, "get-env"), session: session() }));
  });

  t.it("the gzip tool never downloads from an internal address, another host or another scheme", () => {
    neverAllows(t.guard, request({ call: withArgs(toolCall(t.manifest, "gzip-file-as-resource"), forbiddenDestinations.map((data) => ({ data }))), session: admitted(ROLES) }));
  });

  t.it("sampling never runs without a human", () => {
    neverAllows(t.guard, request({ call: toolCall(t.manifest, "trigger-sampling-request"), session: admitted(ROLES) }));
  });

  t.it("a tester never flips the server's switches", () => {
    neverAllows(t.guard, request({ call: fc.oneof(toolCall(t.manifest, "toggle-simulated-logging"), toolCall(t.manifest, "toggle-subscriber-updates")), session: admitted("tester") }));
  });
};
