// What the server-memory policy guarantees for every request, on the real server's tool list. Run with
// `pqguard test policies/server-memory`: each property decides with the compiled guard and the interpreter at once.
import fc from "fast-check";
import { alwaysDenies, decides, neverAllows, request, session, toolCall } from "pqguard/testing";

const STRONG = ["X25519MLKEM768", "ML-KEM-768", "ML-KEM-1024"];
const admitted = (role) => session({ role, kem: STRONG });
const READERS = ["read_graph", "search_nodes", "open_nodes"];
const DELETERS = ["delete_entities", "delete_observations", "delete_relations"];
const name = fc.stringMatching(/^[a-z]{1,8}$/);
const credential = fc.constantFrom("AKIAIOSFODNN7EXAMPLE", "-----BEGIN OPENSSH PRIVATE KEY-----", `ghp_${"a".repeat(36)}`, "xoxb-123-456");
const withArgs = (call, extra) => fc.tuple(call, extra).map(([c, args]) => ({ ...c, args: { ...c.args, ...args } }));

export default (t) => {
  const calls = (tools) => fc.oneof(...tools.map((tool) => toolCall(t.manifest, tool)));

  t.it("every role reads the graph", () => {
    decides(t.guard, request({ call: calls(READERS), session: admitted(["viewer", "assistant", "curator"]) }), "allow");
  });

  t.it("a viewer never changes the graph", () => {
    neverAllows(t.guard, request({ manifest: t.manifest, session: admitted("viewer") }), (r) => !READERS.includes(r.tool));
  });

  t.it("only curators delete, and never more than 5 entities without a human", () => {
    neverAllows(t.guard, request({ call: calls(DELETERS), session: admitted(["viewer", "assistant"]) }));
    neverAllows(t.guard, request({ call: withArgs(toolCall(t.manifest, "delete_entities"), fc.array(name, { minLength: 6, maxLength: 80 }).map((entityNames) => ({ entityNames }))), session: admitted("curator") }));
  });

  t.it("a credential is never written as an observation", () => {
    const observation = fc.tuple(name, credential, fc.string({ maxLength: 10 })).map(([entityName, secret, before]) => ({ observations: [{ entityName, contents: [`${before}${secret}`] }] }));
    alwaysDenies(t.guard, request({ call: withArgs(toolCall(t.manifest, "add_observations"), observation), session: admitted(["assistant", "curator"]) }));
  });

  t.it("adding in batches a reviewer can read is allowed to assistants and curators", () => {
    const entities = fc.array(fc.record({ name, entityType: name, observations: fc.array(name, { maxLength: 3 }) }), { maxLength: 20 }).map((list) => ({ entities: list }));
    decides(t.guard, request({ call: withArgs(toolCall(t.manifest, "create_entities"), entities), session: admitted(["assistant", "curator"]) }), "allow");
  });
};
