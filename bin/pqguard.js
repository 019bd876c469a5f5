#!/usr/bin/env node
// The `pqguard` command: loads the TypeScript sources through tsx and hands over to the CLI dispatcher.
import { register } from "tsx/esm/api";

register();
await import("./cli.ts");
