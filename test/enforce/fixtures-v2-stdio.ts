// An SDK v2 echo server, enforced, serving stdio in its own process (spawned by sdk-v2.test.ts).
import { StdioServerTransport } from "@modelcontextprotocol/server/stdio";
import { silentLogger } from "../../runtime/audit/index.js";
import { enforce } from "../../runtime/enforce/index.js";
import { echoDigests, echoGuard, echoServer } from "./fixtures-v2.js";
import { sessionInfo } from "./fixtures.js";

const { server } = echoServer();
enforce(server, echoGuard(await echoDigests()), { session: () => sessionInfo(), logger: silentLogger() });
await server.connect(new StdioServerTransport());
