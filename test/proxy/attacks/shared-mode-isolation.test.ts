// Review: in shared mode every client speaks to the upstream as one MCP session, so whatever the server scopes to "its
// client" is shared by all of them. The proxy routes notifications per client, but forwards `tasks/*` and
// `resources/unsubscribe` as they are: one client reads another's task results, and unsubscribes another's updates.
import assert from "node:assert/strict";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { Proxy } from "../../../runtime/proxy/index.js";
import { connectClient } from "../harness.js";
import { reviewProxy, sleep, SpawnLog } from "./support.js";

const Anything = z.object({}).passthrough();

describe("attack: shared mode keeps each client's upstream state its own", function () {
  this.timeout(30_000);
  let log: SpawnLog;
  let proxy: Proxy;
  let alice: Client;
  let mallory: Client;

  beforeEach(async () => {
    log = new SpawnLog();
    proxy = reviewProxy(log, { upstreamMode: "shared" });
    await proxy.start();
    alice = await connectClient(proxy, { elicitation: { form: {} } });
    mallory = await connectClient(proxy, { elicitation: { form: {} } });
  });

  afterEach(async () => {
    await Promise.allSettled([alice.close(), mallory.close()]);
    await proxy.close();
    log.cleanUp();
  });

  it("refuses task-augmented calls and tasks/* in shared mode, so that no client can list or read another's task", async () => {
    // With one server session for every client, the server cannot tell whose task is whose.
    await assert.rejects(
      alice.request({ method: "tools/call", params: { name: "echo", arguments: { text: "alice's private text" }, task: { ttl: 60_000 } } }, Anything),
      /with tasks is not served in shared upstream mode/,
    );
    await assert.rejects(mallory.request({ method: "tasks/list", params: {} }, Anything), /with tasks is not served in shared upstream mode/);
    await assert.rejects(mallory.request({ method: "tasks/result", params: { taskId: "any" } }, Anything), /with tasks is not served in shared upstream mode/);
  });

  it("keeps sending a client the updates of a resource it subscribed to when another client unsubscribes from it", async () => {
    const uri = "file:///shared/report.txt";
    const updates: string[] = [];
    alice.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => void updates.push(notification.params.uri));
    await alice.subscribeResource({ uri });
    await mallory.subscribeResource({ uri });
    await mallory.unsubscribeResource({ uri });
    // The server changes the resource (here: told to by a tool call) and announces it to its subscribed client.
    await alice.callTool({ name: "echo", arguments: { text: `update:${uri}` } });
    await sleep(300);
    assert.deepEqual(updates, [uri], "alice is still subscribed as far as the proxy knows, but the one upstream session was unsubscribed by mallory");
  });
});
